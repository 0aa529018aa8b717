#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""deploy/Dockerfile without a Docker engine (this machine has none): replays what its stages
depend on.

1. The build stage's `cmake` configure line, taken from the Dockerfile itself, succeeds on a copy
   of the repository alone (the image's build context is the repository
   alone; an unconditional tests/ subdirectory once made this fail).
2. Every shared library the relay binary needs (ldd, mapped to its Debian package with dpkg -S)
   is installed by the runtime stage's apt line or is in debian:12-slim already.
3. .dockerignore keeps local build trees out of the context (their CMakeCache.txt would stop
   `cmake -B build`).
4. The admin listener (/metrics, /readyz) is bound to loopback by the image, the Compose file and
   the Kubernetes manifest.
5. Docker's documented --stop-timeout, Compose's stop_grace_period and Kubernetes'
   terminationGracePeriodSeconds are longer than the relay's drain (--drain-timeout +
   --close-timeout, defaults read from the relay's own --help), so a stop never kills open tunnels.
6. Linking is always on, so every deployment has a state directory by default (issue 21): the
   image's --state-dir is a VOLUME, Compose mounts a named volume there and the Kubernetes
   StatefulSet a volume claim (a container restart keeps the routing ID and the contacts).

usage: test_dockerfile.py SOURCE_DIR RELAY_BINARY"""
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

# In debian:12-slim already (Priority: required, or needed by apt itself).
SLIM_BASE = {"libc6", "libstdc++6", "libgcc-s1"}

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def stages(dockerfile):
    """[(stage name, [RUN command strings])], continuation lines joined."""
    text = re.sub(r"\\\n", " ", open(dockerfile).read())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
            out.append((m.group(2) or m.group(1), []))
        elif line.startswith("RUN ") and out:
            out[-1][1].append(line[4:].strip())
    return out


def relay_default(relay, option):
    """An option's default as the relay's --help prints it (`--drain-timeout FLOAT:...=30`)."""
    out = subprocess.run([relay, "--help"], capture_output=True, text=True, check=True).stdout
    m = re.search(re.escape(option) + r"\s+\S*=([0-9.]+)", out)
    if not m:
        check(False, "--help shows the default of %s" % option)
        return 0.0
    return float(m.group(1))


def check_admin_loopback(argv, where):
    """The last --admin-listen of argv (the one CLI11 uses) is a loopback address, or absent (off)."""
    addr = None
    for i, a in enumerate(argv):
        if a == "--admin-listen" and i + 1 < len(argv):
            addr = argv[i + 1]
        elif a.startswith("--admin-listen="):
            addr = a.split("=", 1)[1]
    if addr is None or addr == "":
        check(True, "%s: no admin listener" % where)
        return
    host = addr.rsplit(":", 1)[0].strip("[]")
    try:
        loop = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loop = host == "localhost"
    check(loop, "%s binds the admin listener to loopback (%s)" % (where, addr))


def copy_tracked(src, dst):
    files = subprocess.run(["git", "-C", src, "ls-files", "-z"], capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        s = os.path.join(src, rel)
        if not os.path.isfile(s):
            continue
        d = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(s, d)


def main(src, relay):
    st = stages(os.path.join(src, "deploy", "Dockerfile"))
    check(len(st) == 2, "two stages (build, runtime): %r" % [n for n, _ in st])
    build_runs, runtime_runs = st[0][1], st[-1][1]

    # 1. the build stage's configure line, in a context holding only the repository
    configure = None
    for run in build_runs:
        for part in run.split("&&"):
            if part.strip().startswith("cmake -S"):
                configure = part.strip()
    check(configure is not None, "the build stage configures with cmake -S")
    if configure:
        with tempfile.TemporaryDirectory(prefix="hg-docker-") as tmp:
            ctx = os.path.join(tmp, "src")  # nothing beside the repository: like the image
            copy_tracked(src, ctx)
            p = subprocess.run(shlex.split(configure), cwd=ctx, capture_output=True, text=True)
            check(p.returncode == 0, "`%s` succeeds with only the repository%s" % (
                configure, "" if p.returncode == 0 else ": " + (p.stderr or p.stdout)[-800:]))

    # 2. the runtime stage installs what the relay links against
    installed = set(SLIM_BASE)
    for run in runtime_runs:
        m = re.search(r"apt-get install ([^&]*)", run)
        if m:
            installed |= {w for w in m.group(1).split() if not w.startswith("-")}
    ldd = subprocess.run(["ldd", relay], capture_output=True, text=True, check=True).stdout
    for line in ldd.splitlines():
        m = re.search(r"=>\s+(/\S+)", line)
        if not m:
            continue
        pkg = None
        # merged /usr: dpkg knows each file under one spelling, /lib/... or /usr/lib/...
        real = os.path.realpath(m.group(1))
        for path in (m.group(1), real, "/usr" + real if not real.startswith("/usr/") else real[4:]):
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            if owner.returncode == 0:
                pkg = owner.stdout.split(":")[0]
                break
        check(pkg in installed, "%s (package %s) is in the runtime image" % (os.path.basename(m.group(1)), pkg))

    # 3. .dockerignore
    ignore = open(os.path.join(src, ".dockerignore")).read().split()
    check("build*" in ignore and ".git" in ignore, ".dockerignore leaves out build* and .git")

    # 4./5. admin address and stop timeouts
    dockerfile = open(os.path.join(src, "deploy", "Dockerfile")).read()
    joined = re.sub(r"\\\n", " ", dockerfile)
    argv = []
    for instr in ("ENTRYPOINT", "CMD"):
        m = re.search(r"^%s\s+(\[.*\])\s*$" % instr, joined, re.M)
        check(m is not None, "the Dockerfile has an exec-form %s" % instr)
        if m:
            argv += json.loads(m.group(1))
    check_admin_loopback(argv, "the image")
    drain = relay_default(relay, "--drain-timeout") + relay_default(relay, "--close-timeout")
    m = re.search(r"--stop-timeout\s+(\d+)", dockerfile)
    check(m is not None and int(m.group(1)) > drain,
          "the Dockerfile's `docker run --stop-timeout` (%s s) exceeds the drain (%g s)" % (m and m.group(1), drain))
    compose = yaml.safe_load(open(os.path.join(src, "deploy", "docker-compose.yml")))
    svc = compose["services"]["relay"]
    grace = svc.get("stop_grace_period", "10s")
    check(re.fullmatch(r"\d+s", grace) and int(grace[:-1]) > drain,
          "Compose stop_grace_period %s exceeds the drain (%g s)" % (grace, drain))
    check(svc.get("stop_signal", "SIGTERM") == "SIGTERM", "Compose stops with SIGTERM (drain)")
    check_admin_loopback(argv[:argv.index("--admin-listen")] + svc["command"] if "command" in svc else argv,
                         "docker-compose.yml")
    k8s = yaml.safe_load(open(os.path.join(src, "deploy", "kubernetes", "hybridgate-relay.yaml")))
    pod = k8s["spec"]["template"]["spec"]
    check(pod.get("terminationGracePeriodSeconds", 30) > drain,
          "Kubernetes terminationGracePeriodSeconds %s exceeds the drain (%g s)"
          % (pod.get("terminationGracePeriodSeconds", 30), drain))
    c = pod["containers"][0]
    check_admin_loopback(argv[:argv.index("--admin-listen")] + c.get("args", []) if "args" in c else argv,
                         "the Kubernetes manifest")
    for probe in ("readinessProbe", "livenessProbe"):
        check("exec" in c.get(probe, {}), "Kubernetes %s runs inside the container (the admin port is loopback)" % probe)

    # 6. a state directory on a volume everywhere
    state = argv[argv.index("--state-dir") + 1] if "--state-dir" in argv else None
    check(state is not None, "the image passes --state-dir (%s)" % state)
    volumes = re.findall(r"^VOLUME\s+(.+)$", dockerfile, re.M)
    check(any(state in v for v in volumes), "the image's state directory %s is a VOLUME (%r)" % (state, volumes))
    named = compose.get("volumes", {}) or {}
    mounts = [v.split(":") for v in svc.get("volumes", []) if isinstance(v, str)]
    check(any(len(m) >= 2 and m[0] in named and m[1] == state for m in mounts),
          "Compose mounts a named volume at %s (%r)" % (state, svc.get("volumes")))
    claims = {t["metadata"]["name"] for t in k8s["spec"].get("volumeClaimTemplates", [])}
    check(any(vm.get("mountPath") == state and vm.get("name") in claims for vm in c.get("volumeMounts", [])),
          "the Kubernetes StatefulSet mounts a volume claim at %s" % state)

    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
