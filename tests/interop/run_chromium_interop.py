#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
'''Chromium ↔ hybridgate interoperability test (issue 7).

Debian's chromium runs navigator.credentials.create() and then .get() with hints: ["hybrid"] on
http://localhost; our `hybridgate phone` (software authenticator) answers both over our
`hybridgate-relay` (TLS), with the BLE advert carried by a BlueZ double on a private bus.

  page server (this process)  <-- http://localhost:P -->  chromium (Xvfb)
  chromium --BlueZ D-Bus (DBUS_SYSTEM_BUS_ADDRESS = private bus)--> bluez double (tests/ble, bridge mode)
  hybridgate phone --RegisterAdvertisement--> bluez double --Device1 ServiceData--> chromium
  chromium --wss://cable.ua5v.com (host-resolver-rules → 127.0.0.1:R)--> hybridgate-relay (TLS)
  hybridgate phone --wss://127.0.0.1:R (test CA)--> hybridgate-relay

Per run: registration (create → credential), then sign-in (get with allowCredentials = that
credential → assertion whose id is that credential's id and whose userHandle is the user's).
Run with Debian's /usr/bin/python3. Prints PASS/FAIL per ceremony and run, and finally
"N passed, N failed". Exit 0 only if everything passed.

Options: --runs N, --bin-dir DIR (hybridgate, hybridgate-relay), --hints hybrid|security-key|none,
--log-dir DIR (a failing run's logs, screenshots and Chromium's log are kept there), --keep-logs
(keep passing runs' logs too), --timeout SECONDS (per ceremony), --verbose. See docs/interop.md.
'''

import argparse
import base64
import hashlib
import http.server
import json
import os
import queue
import select
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
PY = '/usr/bin/python3'
BRIDGE = os.path.join(HERE, 'chromium_bluez_bridge.py')
PAGE = os.path.join(HERE, 'page', 'index.html')
TUNNEL_HOST = 'cable.ua5v.com'
CHECKS_PER_RUN = 3  # registration, sign-in, the same prf output through hybridgate's desktop

sys.path.insert(0, os.path.join(ROOT, 'tests', 'pylib'))
from hgcheck import TestFailure, wait_for  # noqa: E402


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))


def say(msg):
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------ page server

class PageState:
    def __init__(self):
        self.lock = threading.Lock()
        self.cmd = {'op': 'none'}
        self.results = queue.Queue()
        self.ready = threading.Event()
        self.seq = 0

    def set_cmd(self, cmd):
        with self.lock:
            self.seq += 1
            cmd = dict(cmd, seq=self.seq)
            self.cmd = cmd
        return cmd['seq']


def make_page_server(state):
    page = open(PAGE, 'rb').read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, body, ctype):
            self.send_response(code)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Cache-Control', 'no-store')
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == '/' or self.path.startswith('/index.html'):
                self._send(200, page, 'text/html; charset=utf-8')
            elif self.path.startswith('/cmd'):
                with state.lock:
                    body = json.dumps(state.cmd).encode()
                self._send(200, body, 'application/json')
            elif self.path == '/favicon.ico':
                self._send(404, b'', 'text/plain')
            else:
                self._send(404, b'not found', 'text/plain')

        def do_POST(self):
            n = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(n) if n else b''
            if self.path == '/ready':
                state.ready.set()
            elif self.path == '/result':
                try:
                    state.results.put(json.loads(body))
                except ValueError:
                    state.results.put({'ok': False, 'error': 'unparsable result: %r' % body[:200]})
            self._send(200, b'{}', 'application/json')

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(('127.0.0.1', 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


# ------------------------------------------------------------------------------------------ processes

class Procs:
    '''Every process we start, so that each is stopped (by its own pid/process group) at the end.'''

    def __init__(self):
        self.items = []

    def start(self, name, args, log_path, env=None, stdin=subprocess.DEVNULL, stdout=None, pass_fds=()):
        logf = open(log_path, 'ab')
        p = subprocess.Popen(args, env=env, stdin=stdin, stdout=stdout if stdout is not None else logf,
                             stderr=logf, start_new_session=True, pass_fds=pass_fds)
        self.items.append((name, p, logf))
        return p

    def stop(self, p, timeout=5):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        else:
            # The leader is gone; its group may not be (e.g. chromium's wrapper script).
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def stop_all(self):
        for name, p, logf in reversed(self.items):
            if p.stdin:
                try:
                    p.stdin.close()
                except Exception:
                    pass
            self.stop(p)
            logf.close()
        self.items = []


def run(args, timeout=30, env=None):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


# ------------------------------------------------------------------------------------------ certificates

def make_certs(d):
    '''A test CA and a relay certificate for cable.ua5v.com and 127.0.0.1 signed by it.'''
    ca_key, ca_pem = os.path.join(d, 'ca.key'), os.path.join(d, 'ca.pem')
    key, csr, crt = os.path.join(d, 'relay.key'), os.path.join(d, 'relay.csr'), os.path.join(d, 'relay.pem')
    ext = os.path.join(d, 'relay.ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName=DNS:%s,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n'
                'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' % TUNNEL_HOST)
    steps = [
        ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
         '-keyout', ca_key, '-out', ca_pem, '-days', '2', '-subj', '/CN=hybridgate interop test CA',
         '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
        ['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
         '-keyout', key, '-out', csr, '-subj', '/CN=' + TUNNEL_HOST],
        ['openssl', 'x509', '-req', '-in', csr, '-CA', ca_pem, '-CAkey', ca_key, '-CAcreateserial',
         '-out', crt, '-days', '2', '-extfile', ext],
    ]
    for s in steps:
        rc, out, err = run(s)
        if rc != 0:
            raise TestFailure('openssl failed: %s: %s' % (' '.join(s[:3]), err.decode(errors='replace')))
    # SPKI hash for --ignore-certificate-errors-spki-list (trust only this key, not every error).
    rc, pub, err = run(['openssl', 'x509', '-in', crt, '-noout', '-pubkey'])
    spki_der = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'DER'], input=pub,
                              stdout=subprocess.PIPE, check=True).stdout
    spki_hash = base64.b64encode(hashlib.sha256(spki_der).digest()).decode()
    return ca_pem, crt, key, spki_hash


# ------------------------------------------------------------------------------------------ the X side

def screenshot(env, path):
    rc, out, err = run(['import', '-window', 'root', path], timeout=20, env=env)
    if rc != 0:
        raise TestFailure('screenshot failed: ' + err.decode(errors='replace'))
    return path


def read_qr(path):
    rc, out, err = run(['zbarimg', '--raw', '-q', path], timeout=20)
    for line in out.decode(errors='replace').splitlines():
        line = line.strip()
        if line.upper().startswith('FIDO:/'):
            return line
    return None


def xdotool(env, *args):
    return run(['xdotool'] + list(args), timeout=10, env=env)


# ------------------------------------------------------------------------------------------ one run

class Run:
    def __init__(self, args, n, logdir):
        self.args = args
        self.n = n
        self.logdir = logdir
        self.procs = Procs()
        self.shot_n = 0
        self.bin = args.bin_dir

    def log(self, msg):
        line = '[run %d %s] %s' % (self.n, time.strftime('%H:%M:%S'), msg)
        with open(os.path.join(self.logdir, 'driver.log'), 'a') as f:
            f.write(line + '\n')
        if self.args.verbose:
            say(line)

    def shot(self, tag):
        self.shot_n += 1
        return screenshot(self.xenv, os.path.join(self.logdir, 'shot-%02d-%s.png' % (self.shot_n, tag)))

    def setup(self):
        d = self.logdir
        self.ca, self.crt, self.key, self.spki = make_certs(d)

        # BlueZ double on a private bus (system-type configuration unless --bus-type session).
        self.bridge = self.procs.start('bridge', [PY, BRIDGE, '--dir', d, '--bus-type', self.args.bus_type,
                                                  '--log', os.path.join(d, 'bluez-mock.log')],
                                       os.path.join(d, 'bridge.log'), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        r, _, _ = select.select([self.bridge.stdout], [], [], 30)
        line = self.bridge.stdout.readline().decode().strip() if r else ''
        if not line.startswith('DBUS_SYSTEM_BUS_ADDRESS='):
            raise TestFailure('BlueZ bridge did not start (see bridge.log): %r' % line)
        self.bus = line.split('=', 1)[1]
        self.log('bus ' + self.bus)

        # Relay with TLS.
        port_file = os.path.join(d, 'relay.port')
        self.relay = self.procs.start('relay', [os.path.join(self.bin, 'hybridgate-relay'), '--listen', '127.0.0.1:0',
                                                '--port-file', port_file, '--tls-cert', self.crt, '--tls-key', self.key,
                                                '--log-level', 'debug'],
                                      os.path.join(d, 'relay.log'))
        wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(), 15, 'the relay port file')
        self.relay_port = int(open(port_file).read().strip())
        self.log('relay on %d' % self.relay_port)

        # Page server.
        self.state = PageState()
        self.page = make_page_server(self.state)
        self.page_port = self.page.server_address[1]

        # Xvfb, on the first free display from :90 (lock file and socket both absent; if another
        # server takes it first, Xvfb exits and the next one is tried).
        n = 90
        while True:
            while os.path.exists('/tmp/.X%d-lock' % n) or os.path.exists('/tmp/.X11-unix/X%d' % n):
                n += 1
            if n > 400:
                raise TestFailure('no free X display')
            self.display = ':%d' % n
            self.xenv = dict(os.environ, DISPLAY=self.display)
            self.xvfb = self.procs.start('xvfb', ['Xvfb', self.display, '-screen', '0', '1280x1024x24',
                                                  '-nolisten', 'tcp'], os.path.join(d, 'xvfb.log'))

            def x_up():
                return self.xvfb.poll() is not None or run(['xdpyinfo'], timeout=10, env=self.xenv)[0] == 0
            wait_for(x_up, 20, 'Xvfb on ' + self.display, interval=0.2)
            if self.xvfb.poll() is None:
                break
            n += 1
        self.log('Xvfb on ' + self.display)

        # Chromium.
        self.profile = os.path.join(d, 'profile')
        os.makedirs(self.profile)
        cenv = dict(self.xenv, DBUS_SYSTEM_BUS_ADDRESS=self.bus, DBUS_SESSION_BUS_ADDRESS=self.bus,
                    HOME=os.path.join(d, 'home'))
        os.makedirs(cenv['HOME'])
        cenv.pop('XDG_RUNTIME_DIR', None)
        flags = [
            'chromium', '--no-sandbox', '--user-data-dir=' + self.profile, '--no-first-run',
            '--no-default-browser-check', '--disable-background-networking', '--disable-sync',
            '--disable-component-update', '--password-store=basic', '--use-mock-keychain',
            '--host-resolver-rules=MAP %s 127.0.0.1:%d' % (TUNNEL_HOST, self.relay_port),
            '--ignore-certificate-errors-spki-list=' + self.spki,
            '--window-position=0,0', '--window-size=1280,1024',
            '--enable-logging=stderr', '--v=0', '--vmodule=*/device/fido/*=2,*/webauthn/*=2,*/device/bluetooth/*=1,*device_event_log*=2',
            'http://localhost:%d/' % self.page_port,
        ]
        self.chromium = self.procs.start('chromium', flags, os.path.join(d, 'chromium.log'), env=cenv)
        if not self.state.ready.wait(60):
            self.shot('no-page')
            raise TestFailure('the page did not load in 60 s (see chromium.log)')
        self.log('page ready')

    def phone(self, url, tag):
        store = os.path.join(self.logdir, 'phone-store.json')
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus)
        # --test-assume-verified: this test is about the protocol with Chromium, not user
        # verification; without a PIN, Chromium (rightly) asks to set one on the phone for a
        # passkey, a dialog no test can answer. The PIN itself is tested in tests/python/test_pin.py.
        args = [os.path.join(self.bin, 'hybridgate'), 'phone', '--qr', url, '--store', store, '--yes',
                '--test-assume-verified',
                '--tunnel-url', 'wss://127.0.0.1:%d' % self.relay_port, '--ca-file', self.ca,
                '--radio', 'bluez', '--domain-id', '0', '--desktop-timeout', '60']
        return self.procs.start('phone-' + tag, args, os.path.join(self.logdir, 'phone-%s.log' % tag), env=env)

    def tail(self, name, lines=3):
        try:
            with open(os.path.join(self.logdir, name), errors='replace') as f:
                return ' | '.join(line.strip() for line in f.read().splitlines()[-lines:] if line.strip())
        except OSError:
            return '(no log)'

    def chromium_errors(self, lines=5):
        '''FIDO/Bluetooth lines of Chromium's log since the request began that look like errors.'''
        try:
            with open(os.path.join(self.logdir, 'chromium.log'), 'rb') as f:
                f.seek(self.log_mark)
                text = f.read().decode(errors='replace')
        except OSError:
            return '(no log)'
        keys = ('ERROR', 'rror', 'ail', 'no v2 match', 'nvalid', 'losed', 'UI step', 'unexpected', 'reject')
        hits = [line.split('] ', 1)[-1] for line in text.splitlines()
                if ('FIDO' in line or 'Bluetooth' in line or 'cable' in line) and any(k in line for k in keys)]
        return ' | '.join(hits[-lines:]) or 'no FIDO errors logged'

    def ui_steps(self):
        '''The dialog steps Chromium logged ("UI step: kXxx") since the current request began.'''
        with open(os.path.join(self.logdir, 'chromium.log'), 'rb') as f:
            f.seek(self.log_mark)
            text = f.read().decode(errors='replace')
        return [line.split('UI step: ', 1)[1].split()[0] for line in text.splitlines() if 'UI step: ' in line]

    # Dialog steps on which the QR code is not shown, and the key that leads towards it. Chromium 156:
    # the security-key sheet has its "Save another way"/"Use another device" button focused, the
    # mechanism list has "Use a phone or tablet" as its first, focused row.
    NAVIGATE = {
        'kUsbInsertAndActivate': 'Return',
        'kMechanismSelection': 'Return',
    }

    def find_qr(self, tag, timeout, previous=None):
        '''Screenshots until the passkey dialog shows a QR code; picks "Use a phone or tablet" if it does not.'''
        deadline = time.monotonic() + timeout
        acted = 0
        while time.monotonic() < deadline:
            time.sleep(0.7)
            steps = self.ui_steps()
            path = self.shot(tag)
            url = read_qr(path)
            if url and url != previous:
                self.log('QR read on UI step %s' % (steps[-1] if steps else '?'))
                return url
            if steps and len(steps) > acted and steps[-1] in self.NAVIGATE:
                # A new step that hides the QR code: press its key once (wait for the sheet to settle).
                time.sleep(0.5)
                key = self.NAVIGATE[steps[-1]]
                self.shot(tag + '-before-' + key)
                xdotool(self.xenv, 'key', '--clearmodifiers', key)
                self.log('dialog on %s: pressed %s' % (steps[-1], key))
                acted = len(steps)
            elif not self.args.verbose:
                os.unlink(path)
        raise TestFailure('no QR code appeared on the screen in %.0f s (dialog steps: %s)' % (
            timeout, ' → '.join(self.ui_steps()) or 'none logged'))

    def ceremony(self, op, cmd):
        cmd = dict(cmd, op=op)
        if self.args.hints == 'none':
            cmd.pop('allow', None)  # discoverable sign-in
        else:
            cmd['hints'] = [self.args.hints]
            if self.args.hints == 'security-key':
                cmd['transports'] = ['usb', 'hybrid']
        self.log_mark = os.path.getsize(os.path.join(self.logdir, 'chromium.log'))
        seq = self.state.set_cmd(cmd)
        self.log('%s requested (seq %d)' % (op, seq))
        url = self.find_qr(op, self.args.qr_timeout, getattr(self, 'last_qr', None))
        self.last_qr = url
        self.log('%s QR %s…' % (op, url[:40]))
        phone = self.phone(url, op)
        res = None
        deadline = time.monotonic() + self.args.timeout
        phone_gone = None
        while res is None:
            try:
                res = self.state.results.get(timeout=0.5)
                break
            except queue.Empty:
                pass
            now = time.monotonic()
            if phone_gone is None and phone.poll() is not None and phone.returncode != 0:
                phone_gone = now  # the phone failed: give Chromium a moment to report its error
            if now >= deadline or (phone_gone is not None and now - phone_gone > 5):
                self.shot(op + '-timeout')
                raise TestFailure('%s: no result from the page (phone exit %s); phone: %s; chromium: %s' % (
                    op, phone.poll(), self.tail('phone-%s.log' % op), self.chromium_errors()))
        self.log('%s result %s' % (op, json.dumps(res)[:300]))
        try:
            rc = phone.wait(30)
        except subprocess.TimeoutExpired:
            self.procs.stop(phone)
            rc = 'killed'
        self.log('%s phone exit %s' % (op, rc))
        if not res.get('ok'):
            self.shot(op + '-error')
            raise TestFailure('%s: page reported %s (phone exit %s); phone: %s; chromium: %s' % (
                op, res.get('error'), rc, self.tail('phone-%s.log' % op), self.chromium_errors()))
        if rc != 0:
            raise TestFailure('%s: page OK but hybridgate phone exited %s; phone: %s' % (
                op, rc, self.tail('phone-%s.log' % op)))
        return res['result']

    def go(self):
        self.setup()
        user_id = os.urandom(16)
        reg = self.ceremony('create', {'user_id': b64u(user_id), 'user_name': 'interop-%d@localhost' % self.n,
                                       'challenge': b64u(os.urandom(32)), 'prf': True})
        check_registration(reg)
        if (reg.get('prf') or {}).get('enabled') is not True:
            raise TestFailure('registration: Chromium reports prf %r, not enabled' % reg.get('prf'))
        say('PASS: run %d registration (credential %s…, prf enabled)' % (self.n, reg['id'][:16]))
        self.results.append(True)
        chal = os.urandom(32)
        prf_input = os.urandom(24)
        asr = self.ceremony('get', {'challenge': b64u(chal), 'allow': reg['id'], 'prf_first': b64u(prf_input)})
        check_assertion(asr, reg, user_id, chal)
        chrome_prf = ((asr.get('prf') or {}).get('results') or {}).get('first')
        if not chrome_prf or len(unb64u(chrome_prf)) != 32:
            raise TestFailure('sign-in: no 32-byte prf result from Chromium: %r' % asr.get('prf'))
        say('PASS: run %d sign-in (assertion for credential %s…, prf result)' % (self.n, asr['id'][:16]))
        self.results.append(True)
        # The same credential and PRF input through our own desktop: Chromium hashed the input
        # into a salt, so must we, or the phone's output differs.
        ours = self.cli_prf(reg['id'], prf_input)
        if ours != chrome_prf:
            raise TestFailure('prf: hybridgate sign-in gives %s for the input Chromium evaluated as %s' % (ours, chrome_prf))
        say('PASS: run %d prf: hybridgate desktop and Chromium get the same output for one credential and input' % self.n)
        self.results.append(True)

    def cli_prf(self, cred_id, prf_input):
        '''hybridgate sign-in + hybridgate phone (same credential store, loopback radio, this relay).'''
        env = dict(os.environ, HYBRIDGATE_RADIO_DIR=os.path.join(self.logdir, 'radio'))
        qr_file = os.path.join(self.logdir, 'cli.qr')
        common = ['--tunnel-url', 'wss://127.0.0.1:%d' % self.relay_port, '--ca-file', self.ca, '--radio', 'loopback']
        desk = self.procs.start('cli-desktop', [os.path.join(self.bin, 'hybridgate'), 'sign-in', '--rp-id', 'localhost',
                                                '--origin', 'http://localhost:%d' % self.page_port, '--allow=' + cred_id,
                                                '--prf-first=' + b64u(prf_input), '--qr-url-file', qr_file,
                                                '--no-terminal-qr', '--advert-timeout', '60'] + common,
                                os.path.join(self.logdir, 'cli-desktop.err'), env=env, stdout=subprocess.PIPE)
        wait_for(lambda: os.path.exists(qr_file) or desk.poll() is not None, 20, 'the CLI desktop\'s QR file')
        if not os.path.exists(qr_file):
            raise TestFailure('prf: hybridgate sign-in exited %s before its QR code: %s' % (desk.poll(), self.tail('cli-desktop.err')))
        store = os.path.join(self.logdir, 'phone-store.json')
        phone = self.procs.start('cli-phone', [os.path.join(self.bin, 'hybridgate'), 'phone', '--qr', open(qr_file).read().strip(),
                                               '--store', store, '--yes', '--test-assume-verified'] + common,
                                 os.path.join(self.logdir, 'cli-phone.log'), env=env)
        try:
            out, _ = desk.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise TestFailure('prf: hybridgate sign-in did not finish: %s' % self.tail('cli-desktop.err'))
        if desk.returncode != 0 or phone.wait(30) != 0:
            raise TestFailure('prf: hybridgate sign-in exit %s, phone exit %s: %s | %s' % (
                desk.returncode, phone.returncode, self.tail('cli-desktop.err'), self.tail('cli-phone.log')))
        return ((json.loads(out).get('clientExtensionResults') or {}).get('prf') or {}).get('results', {}).get('first')

    def close(self):
        try:
            self.page.shutdown()
        except Exception:
            pass
        self.procs.stop_all()


def check_registration(reg):
    cd = json.loads(unb64u(reg['clientDataJSON']))
    if cd.get('type') != 'webauthn.create':
        raise TestFailure('registration: clientData type %r' % cd.get('type'))
    if not reg.get('rawId') or reg['rawId'] != reg['id']:
        raise TestFailure('registration: id/rawId mismatch')
    ad = unb64u(reg['authenticatorData']) if reg.get('authenticatorData') else b''
    if len(ad) < 37 + 18:
        raise TestFailure('registration: authenticatorData too short (%d)' % len(ad))
    if ad[:32] != hashlib.sha256(b'localhost').digest():
        raise TestFailure('registration: rpIdHash is not SHA-256("localhost")')
    flags = ad[32]
    if not (flags & 0x01 and flags & 0x04 and flags & 0x40):
        raise TestFailure('registration: flags 0x%02x lack UP/UV/AT' % flags)
    clen = int.from_bytes(ad[53:55], 'big')
    if ad[55:55 + clen] != unb64u(reg['rawId']):
        raise TestFailure('registration: credential id in authenticatorData differs from rawId')
    if 'hybrid' not in (reg.get('transports') or []):
        raise TestFailure('registration: transports %r lack "hybrid"' % reg.get('transports'))


def check_assertion(asr, reg, user_id, chal):
    if asr['id'] != reg['id']:
        raise TestFailure('sign-in: assertion id %s is not the registered credential %s' % (asr['id'], reg['id']))
    cd = json.loads(unb64u(asr['clientDataJSON']))
    if cd.get('type') != 'webauthn.get' or unb64u(cd.get('challenge', '')) != chal:
        raise TestFailure('sign-in: clientData %r' % cd)
    ad = unb64u(asr['authenticatorData'])
    if ad[:32] != hashlib.sha256(b'localhost').digest() or not (ad[32] & 0x05) == 0x05:
        raise TestFailure('sign-in: authenticatorData rpIdHash/flags wrong')
    if asr.get('userHandle') and unb64u(asr['userHandle']) != user_id:
        raise TestFailure('sign-in: userHandle differs from the registered user id')
    verify_signature(reg, asr)


def verify_signature(reg, asr):
    '''Verifies the assertion signature with the registration's SPKI (openssl, no extra modules).'''
    if not reg.get('publicKey'):
        return
    d = tempfile.mkdtemp(prefix='hg-sig-')
    try:
        spki = os.path.join(d, 'k.der')
        msg = os.path.join(d, 'm')
        sig = os.path.join(d, 's')
        open(spki, 'wb').write(unb64u(reg['publicKey']))
        open(msg, 'wb').write(unb64u(asr['authenticatorData']) + hashlib.sha256(unb64u(asr['clientDataJSON'])).digest())
        open(sig, 'wb').write(unb64u(asr['signature']))
        rc, out, err = run(['openssl', 'dgst', '-sha256', '-verify', spki, '-keyform', 'DER', '-signature', sig, msg])
        if rc != 0:
            raise TestFailure('sign-in: signature does not verify: %s' % (out + err).decode(errors='replace').strip())
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--bin-dir', default=os.environ.get('HG_BIN_DIR', os.path.join(ROOT, 'build-interop', 'bin')))
    ap.add_argument('--log-dir', default=os.path.join(tempfile.gettempdir(), 'hg-interop-logs'),
                    help='folder for the runs\' logs (a failing run\'s logs are always kept there)')
    ap.add_argument('--keep-logs', action='store_true', help='keep the logs of passing runs too')
    ap.add_argument('--timeout', type=int, default=90, help='seconds for one ceremony after the QR was read')
    ap.add_argument('--verbose', action='store_true')
    ap.add_argument('--bus-type', default='system', choices=['system', 'session'],
                    help='<type> of the private D-Bus configuration (default system)')
    ap.add_argument('--hints', default='hybrid', choices=['hybrid', 'none', 'security-key'],
                    help='WebAuthn hints the page passes (default hybrid: Chromium opens the QR sheet at once; '
                         'none: no hints and a discoverable sign-in; security-key: Chromium opens the security-key '
                         'sheet and the driver has to pick "Use a phone or tablet")')
    ap.add_argument('--qr-timeout', type=float, default=40, help='seconds for the QR code to appear')
    args = ap.parse_args()

    for tool in ('chromium', 'Xvfb', 'xdotool', 'import', 'zbarimg', 'openssl', 'dbus-daemon'):
        if not shutil.which(tool):
            say('FAIL: %s is missing: run tests/interop/setup.sh' % tool)
            say('0 passed, 1 failed')
            return 1
    for b in ('hybridgate', 'hybridgate-relay'):
        if not os.access(os.path.join(args.bin_dir, b), os.X_OK):
            say('FAIL: %s not built in %s' % (b, args.bin_dir))
            say('0 passed, 1 failed')
            return 1

    def terminate(signum, frame):  # ctest's timeout, Ctrl-C: still stop every process we started
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    keep_root = args.log_dir
    os.makedirs(keep_root, exist_ok=True)
    passed = failed = 0
    for n in range(1, args.runs + 1):
        logdir = tempfile.mkdtemp(prefix='run%d-' % n, dir=keep_root)
        r = Run(args, n, logdir)
        r.results = []
        t0 = time.monotonic()
        ok = False
        try:
            r.go()
            ok = True
        except TestFailure as e:
            say('FAIL: run %d: %s (logs: %s)' % (n, e, logdir))
        except (SystemExit, KeyboardInterrupt):
            say('FAIL: run %d: interrupted (logs: %s)' % (n, logdir))
            say('%d passed, %d failed' % (passed, failed + CHECKS_PER_RUN))
            raise
        except Exception as e:  # a bug in the driver still fails the run, never hangs it
            say('FAIL: run %d: driver error %r (logs: %s)' % (n, e, logdir))
        finally:
            r.close()
        passed += len(r.results)
        failed += CHECKS_PER_RUN - len(r.results)  # a check not reached counts as failed
        say('%s: run %d in %.1f s' % ('PASS' if ok else 'FAIL', n, time.monotonic() - t0))
        # The Chromium profile is of no use afterwards; logs and screenshots are.
        shutil.rmtree(os.path.join(logdir, 'profile'), ignore_errors=True)
        shutil.rmtree(os.path.join(logdir, 'home'), ignore_errors=True)
        if ok and not args.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
    say('%d passed, %d failed' % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
