# SPDX-License-Identifier: Apache-2.0
"""The shipped nginx site (deploy/nginx/hybridgate-relay.conf, a drop-in for the http {} context)
filled in for three loopback relays and included from a minimal nginx.conf, as a stock nginx.conf
includes sites-enabled/* and conf.d/*.conf. Shared by tests/relay/test_multinode.py and
tests/integration/test_linking_multinode.py."""
import os

SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "nginx", "hybridgate-relay.conf")

# Everything outside http {}, and the paths a non-root nginx needs, is the wrapper's: the site file
# has none of it.
MAIN_CONF = """worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections {worker_connections};
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {site};
}}
"""


def write_config(prefix, subst, worker_connections=4096):
    """Fills the site's {{placeholders}} from subst (LISTEN, NODEn_ADDR, NODEn_RID, NODEn_PREFIX;
    SERVER_NAME defaults to 127.0.0.1, ACCESS_LOG to prefix/access.log), writes it and the wrapping nginx.conf under prefix, and
    returns (path of nginx.conf, list of placeholders left unfilled outside comments)."""
    site = open(SITE).read()
    subst = dict({"SERVER_NAME": "127.0.0.1", "ACCESS_LOG": os.path.join(prefix, "access.log")}, **subst)
    for k, v in subst.items():
        site = site.replace("{{%s}}" % k, v)
    left = [l for l in site.splitlines() if "{{" in l and not l.lstrip().startswith("#")]
    site_path = os.path.join(prefix, "hybridgate-relay.conf")
    with open(site_path, "w") as f:
        f.write(site)
    conf_path = os.path.join(prefix, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(MAIN_CONF.format(prefix=prefix, site=site_path, worker_connections=worker_connections))
    return conf_path, left
