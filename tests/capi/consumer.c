/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A C99 program that uses libhybridgate the way an application would; tests/capi/test_capi.py
 * builds it from an install prefix (pkg-config, CMake find_package) and in the build tree.
 *
 *   consumer selftest
 *       API checks without a phone: version, errors, NULL and bad arguments, a busy desktop, and
 *       cancelling from another thread a blocking and a non-blocking ceremony that waits for a
 *       phone (loopback radio: $HYBRIDGATE_RADIO_DIR). Prints "selftest ok".
 *   consumer create|get --mode blocking|async --tunnel-url URL --origin ORIGIN --options FILE
 *            --qr-file FILE [--phone NAME] [--links FILE] [--link-phone]
 *       One desktop ceremony (loopback radio). The QR URL is written to --qr-file atomically; each
 *       stage is printed on stderr as "stage NAME"; the credential JSON (or {"error": {"code",
 *       "message"}}) goes to stdout. Exit 0 on success.
 *   consumer phones --links FILE
 *       Prints the remembered phones (JSON).
 *   consumer phone --tunnel-url URL --qr-file FILE --store FILE [--deny]
 *       Serves one QR code (loopback radio) with the store; the presence callback approves (or,
 *       with --deny, refuses) and logs "presence OPERATION RP_ID" on stderr. With $CONSUMER_PIN:
 *       sets it as the store's PIN (hg_phone_set_pin, when none is set) and answers the
 *       verification callback with it, logging "verify OPERATION RP_ID retries N". With
 *       $CONSUMER_PASSPHRASE: the store is sealed and opened with hg_phone_new_sealed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <hybridgate/hybridgate.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond, ...)                                         \
  do {                                                           \
    if (!(cond)) {                                               \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                              \
      fprintf(stderr, "\n");                                     \
      failures++;                                                \
    }                                                            \
  } while (0)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return NULL;
  }
  buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Writes text to path atomically (the test polls for the file). */
static int write_atomically(const char *path, const char *text) {
  char tmp[4096];
  FILE *f;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  f = fopen(tmp, "w");
  if (!f) return -1;
  fputs(text, f);
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

/* ---- callbacks -------------------------------------------------------------------------------- */

struct app {
  const char *qr_file;
  int qr_calls;
  int stages;
  char last_stage[64];
  /* For the cancel tests: the "scanning" stage (the desktop waits for the phone's advert) signals
   * this condition. */
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int scanning;
  hg_desktop *desktop;
};

static void on_qr(void *user, const char *url) {
  struct app *a = user;
  a->qr_calls++;
  if (a->qr_file && write_atomically(a->qr_file, url) != 0) fprintf(stderr, "cannot write %s\n", a->qr_file);
}

static void on_stage(void *user, const char *stage, const char *detail) {
  struct app *a = user;
  a->stages++;
  snprintf(a->last_stage, sizeof a->last_stage, "%s", stage);
  (void)detail; /* details are for logs; the test reads only the names */
  fprintf(stderr, "stage %s\n", stage);
  if (strcmp(stage, "scanning") == 0) {
    pthread_mutex_lock(&a->mu);
    a->scanning = 1;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
  }
}

static void on_notice(void *user, const char *sentence) {
  (void)user;
  fprintf(stderr, "notice %s\n", sentence);
}

static void app_init(struct app *a) {
  memset(a, 0, sizeof *a);
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cond, NULL);
}

static void app_destroy(struct app *a) {
  pthread_mutex_destroy(&a->mu);
  pthread_cond_destroy(&a->cond);
}

/* Waits (bounded) until the "scanning" stage was reported. */
static int wait_scanning(struct app *a, double seconds) {
  struct timespec ts;
  int seen;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)seconds;
  pthread_mutex_lock(&a->mu);
  while (!a->scanning) {
    if (pthread_cond_timedwait(&a->cond, &a->mu, &ts) == ETIMEDOUT) break;
  }
  seen = a->scanning;
  pthread_mutex_unlock(&a->mu);
  return seen;
}

/* ---- non-blocking form: a poll() loop standing in for a GTK/Qt main loop ---------------------- */

static void *cancel_thread(void *arg) {
  hg_desktop_cancel(arg);
  return NULL;
}

/* Runs dispatch until the ceremony ends or `seconds` pass. When cancel_when_scanning, a new thread
 * calls hg_desktop_cancel as soon as the "scanning" stage was dispatched. Returns dispatch's final
 * result. */
static int drive(hg_desktop *d, struct app *a, double seconds, int cancel_when_scanning, char **cred, hg_error *err) {
  double deadline = now_s() + seconds;
  int cancelled = 0;
  pthread_t t;
  struct pollfd p;
  memset(&t, 0, sizeof t);
  p.fd = hg_desktop_fd(d);
  p.events = POLLIN;
  for (;;) {
    int rc;
    double left = deadline - now_s();
    if (left <= 0) {
      fprintf(stderr, "the ceremony did not end within %.0f s\n", seconds);
      hg_desktop_cancel(d);
      deadline = now_s() + 30; /* the cancellation itself must end it */
      seconds = 30;
      continue;
    }
    p.revents = 0;
    rc = poll(&p, 1, (int)(left * 1000) + 1);
    if (rc < 0 && errno != EINTR) return HG_ERR;
    if (rc <= 0) continue;
    rc = hg_desktop_dispatch(d, cred, err);
    if (rc != HG_PENDING) {
      if (cancelled) pthread_join(t, NULL);
      return rc;
    }
    if (cancel_when_scanning && !cancelled && a->scanning) {
      if (pthread_create(&t, NULL, cancel_thread, d) == 0) cancelled = 1;
    }
  }
}

/* ---- selftest ----------------------------------------------------------------------------------- */

struct blocking_args {
  hg_desktop *d;
  const char *options;
  int rc;
  char *cred;
  hg_error err;
};

static void *blocking_get(void *arg) {
  struct blocking_args *b = arg;
  b->rc = hg_desktop_get(b->d, b->options, "https://example.com", NULL, &b->cred, &b->err);
  return NULL;
}

static const char *kGetOptions = "{\"challenge\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\",\"rpId\":\"example.com\"}";
static const char *kGetOptions3s =
    "{\"challenge\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\",\"rpId\":\"example.com\",\"timeout\":3000}";

static int selftest(void) {
  hg_error err;
  char version[32];
  hg_config *cfg;
  hg_desktop *d;
  char *cred = (char *)"untouched";
  char *json = NULL;
  struct app a;
  int rc, forgotten = 7;
  double t0;
  char tmpdir[] = "/tmp/hg-capi-selftest-XXXXXX";
  char links[4200], store[4200];

  /* Version: the header's macros and the library agree. */
  snprintf(version, sizeof version, "%d.%d.%d", HG_VERSION_MAJOR, HG_VERSION_MINOR, HG_VERSION_PATCH);
  CHECK(strcmp(hg_version(), version) == 0, "hg_version() = %s, header %s", hg_version(), version);

  /* Error sentences. */
  CHECK(hg_error_sentence("session.cancelled") != NULL, "no sentence for session.cancelled");
  CHECK(hg_error_sentence("no.such.code") == NULL, "a sentence for an unknown code");
  CHECK(hg_error_sentence(NULL) == NULL, "a sentence for NULL");
  hg_free(NULL);

  /* NULL handles and bad arguments fail with invalid_argument, never crash. */
  memset(&err, 0, sizeof err);
  CHECK(hg_desktop_get(NULL, "{}", "https://example.com", NULL, &cred, &err) == HG_ERR, "NULL desktop accepted");
  CHECK(strcmp(err.code, "invalid_argument") == 0, "code %s", err.code);
  CHECK(cred == NULL, "*credential not reset to NULL on failure");
  CHECK(hg_config_set_radio(NULL, "loopback", NULL) == HG_ERR, "NULL config accepted (and err NULL is allowed)");
  hg_desktop_free(NULL);
  hg_phone_free(NULL);
  hg_config_free(NULL);
  hg_desktop_cancel(NULL);
  hg_phone_cancel(NULL);
  CHECK(hg_desktop_fd(NULL) == -1, "fd of NULL");

  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(links, sizeof links, "%s/links.json", tmpdir);
  snprintf(store, sizeof store, "%s/store.json", tmpdir);

  cfg = hg_config_new();
  CHECK(cfg != NULL, "hg_config_new");
  memset(&err, 0, sizeof err);
  CHECK(hg_config_set_radio(cfg, "wifi", &err) == HG_ERR && strcmp(err.code, "invalid_argument") == 0,
        "radio wifi accepted: %s", err.code);
  CHECK(strstr(err.message, hg_error_sentence("invalid_argument")) == err.message,
        "the message does not start with the code's sentence: %s", err.message);
  CHECK(strstr(err.message, "auto, bluez or loopback") != NULL, "the message lacks the detail: %s", err.message);
  CHECK(hg_config_set_timeout(cfg, HG_TIMEOUT_ADVERT, 0, &err) == HG_ERR, "timeout 0 accepted");
  CHECK(hg_config_set_radio(cfg, "loopback", &err) == HG_OK, "radio loopback: %s", err.message);
  /* Settings are checked where they are set: a URL that is no ws:// or wss:// URL, a CA file or a
   * QR URL folder that does not exist are refused by the setter, not after a QR code was scanned. */
  CHECK(hg_config_set_tunnel_url(cfg, "https://relay.example.org", &err) == HG_ERR &&
            strcmp(err.code, "invalid_argument") == 0 && strstr(err.message, "ws://") != NULL,
        "an https:// tunnel URL accepted: %s %s", err.code, err.message);
  CHECK(hg_config_set_tunnel_url(cfg, "relay.example.org:443", &err) == HG_ERR, "a tunnel URL without a scheme accepted");
  CHECK(hg_config_set_tunnel_url(cfg, "ws://127.0.0.1:99999", &err) == HG_ERR, "a tunnel URL with port 99999 accepted");
  CHECK(hg_config_set_ca_file(cfg, "/nonexistent/hybridgate-ca.pem", &err) == HG_ERR &&
            strstr(err.message, "/nonexistent/hybridgate-ca.pem") != NULL,
        "a missing CA file accepted: %s", err.message);
  CHECK(hg_config_set_qr_url_file(cfg, "/nonexistent/qr-url", &err) == HG_ERR, "a QR URL file in a missing folder accepted");
  /* Nothing listens on port 1: a ceremony that got as far as the tunnel would fail, not hang. */
  CHECK(hg_config_set_tunnel_url(cfg, "ws://127.0.0.1:1", &err) == HG_OK, "tunnel url");
  CHECK(hg_config_set_links_file(cfg, links, &err) == HG_OK, "links file");
  CHECK(hg_config_set_timeout(cfg, HG_TIMEOUT_ADVERT, 60000, &err) == HG_OK, "advert timeout");
  {
    /* Settings read back as set; an unknown key is refused. */
    char *v = NULL;
    CHECK(hg_config_get(cfg, "tunnel_url", &v, &err) == HG_OK && v && strcmp(v, "ws://127.0.0.1:1") == 0,
          "hg_config_get tunnel_url: %s", v ? v : err.message);
    hg_free(v);
    CHECK(hg_config_get(cfg, "qr_url_file", &v, &err) == HG_OK && v && v[0] == '\0', "qr_url_file not empty");
    hg_free(v);
    CHECK(hg_config_get(cfg, "link_phone", &v, &err) == HG_OK && v && strcmp(v, "false") == 0, "link_phone");
    hg_free(v);
    CHECK(hg_config_get(cfg, "password", &v, &err) == HG_ERR && v == NULL && strcmp(err.code, "invalid_argument") == 0,
          "an unknown key was answered");
    /* A QR code on a terminal: one line per two module rows, drawn with half blocks. */
    CHECK(hg_qr_terminal("FIDO:/1234567890", 0, &v, &err) == HG_OK && v != NULL, "hg_qr_terminal: %s", err.message);
    if (v) {
      size_t lines = 0;
      for (const char *c = v; *c; ++c) lines += *c == '\n';
      /* Version 1 (21 modules) + 2 x 2 quiet zone = 25 rows -> 13 lines; larger versions more. */
      CHECK(lines >= 13 && strstr(v, "\xe2\x96") != NULL, "a QR drawing of %zu lines without blocks", lines);
    }
    hg_free(v);
    CHECK(hg_qr_terminal("", 0, &v, &err) == HG_ERR && v == NULL, "an empty QR text was drawn");
  }

  d = hg_desktop_new(cfg, &err);
  hg_config_free(&cfg);
  CHECK(cfg == NULL, "hg_config_free did not reset the pointer");
  CHECK(d != NULL, "hg_desktop_new: %s %s", err.code, err.message);
  if (!d) return 1;
  app_init(&a);
  a.desktop = d;
  hg_desktop_set_callbacks(d, on_qr, on_stage, on_notice, &a);
  CHECK(hg_desktop_fd(d) >= 0, "no fd");

  /* Bad options: invalid_argument before any QR code. */
  rc = hg_desktop_get(d, "{", "https://example.com", NULL, &cred, &err);
  CHECK(rc == HG_ERR && strcmp(err.code, "invalid_argument") == 0, "bad JSON: rc %d code %s", rc, err.code);
  CHECK(a.qr_calls == 0, "a QR code was shown for bad options");
  CHECK(hg_desktop_get(d, kGetOptions, NULL, NULL, &cred, &err) == HG_ERR, "NULL origin accepted");
  rc = hg_desktop_get(d, kGetOptions, "https://example.org", NULL, &cred, &err);
  CHECK(rc == HG_ERR && strcmp(err.code, "rp_id.mismatch") == 0, "rpId example.com for https://example.org: %d %s", rc,
        err.code);
  CHECK(a.qr_calls == 0, "a QR code was shown for a mismatched origin");

  /* Dispatch without a started ceremony. */
  rc = hg_desktop_dispatch(d, &cred, &err);
  CHECK(rc == HG_ERR && strcmp(err.code, "invalid_argument") == 0, "dispatch while idle: %d %s", rc, err.code);

  /* No remembered phones yet; forgetting an unknown one is not an error. */
  CHECK(hg_desktop_phones(d, &json, &err) == HG_OK, "phones: %s", err.message);
  CHECK(json && strcmp(json, "[]") == 0, "phones: %s", json ? json : "(null)");
  hg_free(json);
  json = NULL;
  CHECK(hg_desktop_forget(d, "nobody", &forgotten, &err) == HG_OK && forgotten == 0, "forget nobody: %d", forgotten);

  /* The relying party's timeout bounds the whole call: 3 s and nobody scans (the advert deadline
   * is 60 s) -> session.deadline within 4 s, naming the timeout. */
  a.qr_calls = 0;
  t0 = now_s();
  rc = hg_desktop_get(d, kGetOptions3s, "https://example.com", NULL, &cred, &err);
  CHECK(rc == HG_ERR && strcmp(err.code, "session.deadline") == 0, "timeout 3000: rc %d code %s (%s)", rc, err.code,
        err.message);
  CHECK(strstr(err.message, "3000 ms") != NULL, "the message does not name the timeout: %s", err.message);
  CHECK(now_s() - t0 <= 4.0, "a 3 s timeout took %.1f s", now_s() - t0);
  CHECK(cred == NULL, "a credential after the timeout");
  CHECK(a.qr_calls == 1, "QR callback ran %d times", a.qr_calls);
  a.qr_calls = 0;

  /* Non-blocking: start, a second start and phones() are refused while it runs, then another
   * thread cancels while it waits for the phone's advert; the end arrives through dispatch. */
  t0 = now_s();
  a.scanning = 0;
  rc = hg_desktop_start_get(d, kGetOptions, "https://example.com", NULL, &err);
  CHECK(rc == HG_OK, "start_get: %s %s", err.code, err.message);
  CHECK(hg_desktop_start_get(d, kGetOptions, "https://example.com", NULL, &err) == HG_ERR &&
            strcmp(err.code, "invalid_argument") == 0,
        "a second start while running: %s", err.code);
  CHECK(hg_desktop_phones(d, &json, &err) == HG_ERR && json == NULL, "phones() while running");
  rc = drive(d, &a, 30, 1, &cred, &err);
  CHECK(rc == HG_ERR && strcmp(err.code, "session.cancelled") == 0, "async cancel: rc %d code %s (%s)", rc, err.code,
        err.message);
  CHECK(cred == NULL, "a credential after cancel");
  CHECK(a.qr_calls == 1, "QR callback ran %d times", a.qr_calls);
  CHECK(now_s() - t0 < 30, "cancel took %.1f s", now_s() - t0);

  /* Blocking, cancelled from another thread while it waits for the phone's advert. */
  {
    struct blocking_args b;
    pthread_t t;
    memset(&b, 0, sizeof b);
    b.d = d;
    b.options = kGetOptions;
    a.qr_calls = 0;
    a.scanning = 0;
    t0 = now_s();
    CHECK(pthread_create(&t, NULL, blocking_get, &b) == 0, "pthread_create");
    CHECK(wait_scanning(&a, 30), "no scanning stage within 30 s");
    hg_desktop_cancel(d);
    pthread_join(t, NULL);
    CHECK(b.rc == HG_ERR && strcmp(b.err.code, "session.cancelled") == 0, "blocking cancel: rc %d code %s", b.rc,
          b.err.code);
    CHECK(b.cred == NULL, "a credential after cancel");
    CHECK(now_s() - t0 < 30, "cancel took %.1f s", now_s() - t0);
  }

  /* The desktop is usable again after a cancel; a cancel while idle does not poison the next call
   * (that one is cancelled explicitly, later). */
  hg_desktop_cancel(d);
  rc = hg_desktop_start_create(d, "{\"rp\":{\"id\":\"example.com\",\"name\":\"Example\"},\"user\":{\"id\":\"AQID\",\"name\":\"a\",\"displayName\":\"A\"},\"challenge\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\",\"pubKeyCredParams\":[{\"type\":\"public-key\",\"alg\":-7}]}",
                               "https://example.com", NULL, &err);
  CHECK(rc == HG_OK, "start_create: %s %s", err.code, err.message);
  a.qr_calls = 0;
  a.scanning = 0;
  rc = drive(d, &a, 30, 1, &cred, &err);
  CHECK(rc == HG_ERR && strcmp(err.code, "session.cancelled") == 0, "create cancel: rc %d code %s (%s)", rc, err.code,
        err.message);
  CHECK(a.qr_calls == 1, "the idle cancel stopped the next ceremony before its QR code (%d)", a.qr_calls);

  /* Freeing a desktop with a running non-blocking ceremony cancels and joins it (within the
   * deadline: nothing is dispatched any more). */
  a.scanning = 0;
  rc = hg_desktop_start_get(d, kGetOptions, "https://example.com", NULL, &err);
  CHECK(rc == HG_OK, "start_get before free: %s", err.code);
  {
    struct pollfd p;
    double deadline = now_s() + 30;
    p.fd = hg_desktop_fd(d);
    p.events = POLLIN;
    while (!a.scanning && now_s() < deadline) {
      if (poll(&p, 1, 1000) > 0) CHECK(hg_desktop_dispatch(d, &cred, &err) == HG_PENDING, "ended early: %s", err.code);
    }
    CHECK(a.scanning, "no scanning stage before free");
  }
  t0 = now_s();
  hg_desktop_free(&d);
  CHECK(d == NULL, "hg_desktop_free did not reset the pointer");
  CHECK(now_s() - t0 < 30, "free took %.1f s", now_s() - t0);
  app_destroy(&a);

  /* Phone: a store others can read is refused; a fresh one is created. */
  {
    hg_phone *p;
    FILE *f = fopen(store, "w");
    if (f) fclose(f);
    chmod(store, 0644);
    p = hg_phone_new(NULL, store, &err);
    CHECK(p == NULL && strcmp(err.code, "store.permissions") == 0, "a 0644 store: %s", err.code);
    unlink(store);
    CHECK(hg_phone_new(NULL, NULL, &err) == NULL && strcmp(err.code, "invalid_argument") == 0, "NULL store path");
    p = hg_phone_new(NULL, store, &err);
    CHECK(p != NULL, "hg_phone_new: %s %s", err.code, err.message);
    {
      struct stat st;
      CHECK(stat(store, &st) == 0 && (st.st_mode & 0777) == 0600, "the new store is not mode 0600");
    }
    CHECK(hg_phone_serve_qr(p, "not a qr code", 0, NULL, &err) == HG_ERR && strncmp(err.code, "qr.", 3) == 0,
          "a bad QR URL: %s", err.code);
    hg_phone_free(&p);
    CHECK(p == NULL, "hg_phone_free did not reset the pointer");
    unlink(store);
  }
  unlink(links);
  rmdir(tmpdir);

  if (failures == 0) printf("selftest ok\n");
  return failures == 0 ? 0 : 1;
}

/* ---- one ceremony --------------------------------------------------------------------------------- */

static const char *arg(int argc, char **argv, const char *name) {
  int i;
  for (i = 2; i + 1 < argc; i++) {
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return NULL;
}

static int flag(int argc, char **argv, const char *name) {
  int i;
  for (i = 2; i < argc; i++) {
    if (strcmp(argv[i], name) == 0) return 1;
  }
  return 0;
}

static void print_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void print_error(const hg_error *err) {
  printf("{\"error\": {\"code\": ");
  print_json_string(err->code);
  printf(", \"message\": ");
  print_json_string(err->message);
  printf("}}\n");
}

static int ceremony(int argc, char **argv) {
  const char *mode = arg(argc, argv, "--mode"), *url = arg(argc, argv, "--tunnel-url");
  const char *origin = arg(argc, argv, "--origin"), *options_file = arg(argc, argv, "--options");
  const char *phone = arg(argc, argv, "--phone"), *links = arg(argc, argv, "--links");
  int create = strcmp(argv[1], "create") == 0;
  hg_error err;
  hg_config *cfg;
  hg_desktop *d;
  struct app a;
  char *options, *cred = NULL;
  int rc;

  if (!mode || !url || !origin || !options_file) {
    fprintf(stderr, "missing arguments\n");
    return 2;
  }
  options = read_file(options_file);
  if (!options) {
    fprintf(stderr, "cannot read %s\n", options_file);
    return 2;
  }
  app_init(&a);
  a.qr_file = arg(argc, argv, "--qr-file");
  cfg = hg_config_new();
  if (hg_config_set_radio(cfg, "loopback", &err) != HG_OK || hg_config_set_tunnel_url(cfg, url, &err) != HG_OK ||
      hg_config_set_links_file(cfg, links, &err) != HG_OK ||
      hg_config_set_link_phone(cfg, flag(argc, argv, "--link-phone"), &err) != HG_OK ||
      hg_config_set_timeout(cfg, HG_TIMEOUT_ADVERT, 30000, &err) != HG_OK) {
    print_error(&err);
    return 1;
  }
  d = hg_desktop_new(cfg, &err);
  hg_config_free(&cfg);
  if (!d) {
    print_error(&err);
    return 1;
  }
  hg_desktop_set_callbacks(d, on_qr, on_stage, on_notice, &a);
  if (strcmp(mode, "blocking") == 0) {
    rc = create ? hg_desktop_create(d, options, origin, phone, &cred, &err)
                : hg_desktop_get(d, options, origin, phone, &cred, &err);
  } else {
    rc = create ? hg_desktop_start_create(d, options, origin, phone, &err)
                : hg_desktop_start_get(d, options, origin, phone, &err);
    if (rc == HG_OK) rc = drive(d, &a, 90, 0, &cred, &err);
  }
  if (rc == HG_OK) {
    printf("%s\n", cred);
    hg_free(cred);
  } else {
    print_error(&err);
  }
  hg_desktop_free(&d);
  app_destroy(&a);
  free(options);
  return rc == HG_OK ? 0 : 1;
}

static int phones(int argc, char **argv) {
  hg_error err;
  hg_config *cfg = hg_config_new();
  hg_desktop *d;
  char *json = NULL;
  int rc;
  hg_config_set_links_file(cfg, arg(argc, argv, "--links"), &err);
  d = hg_desktop_new(cfg, &err);
  hg_config_free(&cfg);
  if (!d) {
    print_error(&err);
    return 1;
  }
  rc = hg_desktop_phones(d, &json, &err);
  if (rc == HG_OK) printf("%s\n", json);
  else print_error(&err);
  hg_free(json);
  hg_desktop_free(&d);
  return rc == HG_OK ? 0 : 1;
}

/* ---- the phone side ------------------------------------------------------------------------------- */

static int presence(void *user, const char *operation, const char *rp_id, const char *user_name) {
  int deny = *(int *)user;
  (void)user_name;
  fprintf(stderr, "presence %s %s\n", operation, rp_id);
  return !deny;
}

/* The store's PIN from $CONSUMER_PIN (a test never puts it in argv). */
static int verification(void *user, const char *operation, const char *rp_id, const char *user_name, int retries,
                        int again, char *pin, size_t pin_cap) {
  const char *want = getenv("CONSUMER_PIN");
  (void)user;
  (void)user_name;
  fprintf(stderr, "verify %s %s retries %d%s\n", operation, rp_id, retries, again ? " again" : "");
  if (!want || strlen(want) + 1 > pin_cap) return 0;
  memcpy(pin, want, strlen(want) + 1);
  return 1;
}

static void phone_stage(void *user, const char *stage, const char *detail) {
  (void)user;
  (void)detail;
  fprintf(stderr, "stage %s\n", stage);
}

static int phone_side(int argc, char **argv) {
  const char *url = arg(argc, argv, "--tunnel-url"), *qr_file = arg(argc, argv, "--qr-file");
  const char *store = arg(argc, argv, "--store");
  int deny = flag(argc, argv, "--deny"), served = -1, rc;
  hg_error err;
  hg_config *cfg;
  hg_phone *p;
  char *qr;
  size_t n;
  if (!url || !qr_file || !store) {
    fprintf(stderr, "missing arguments\n");
    return 2;
  }
  qr = read_file(qr_file);
  if (!qr) {
    fprintf(stderr, "cannot read %s\n", qr_file);
    return 2;
  }
  n = strlen(qr);
  while (n > 0 && (qr[n - 1] == '\n' || qr[n - 1] == '\r')) qr[--n] = '\0';
  cfg = hg_config_new();
  hg_config_set_radio(cfg, "loopback", &err);
  hg_config_set_tunnel_url(cfg, url, &err);
  /* $CONSUMER_PASSPHRASE: the store is sealed (hybridgate phone --seal); never argv in a test. */
  if (getenv("CONSUMER_PASSPHRASE")) {
    const char *pass = getenv("CONSUMER_PASSPHRASE");
    p = hg_phone_new_sealed(cfg, store, pass, strlen(pass), &err);
  } else {
    p = hg_phone_new(cfg, store, &err);
  }
  hg_config_free(&cfg);
  if (!p) {
    print_error(&err);
    free(qr);
    return 1;
  }
  hg_phone_set_callbacks(p, presence, phone_stage, &deny);
  if (getenv("CONSUMER_PIN")) {
    /* First use: set the PIN; later (a PIN is set): "not allowed" without the current one. */
    if (hg_phone_set_pin(p, getenv("CONSUMER_PIN"), NULL, &err) != HG_OK && strstr(err.message, "NOT_ALLOWED") == NULL) {
      print_error(&err);
      hg_phone_free(&p);
      free(qr);
      return 1;
    }
    hg_phone_set_verification_callback(p, verification, NULL);
  }
  rc = hg_phone_serve_qr(p, qr, 0, &served, &err);
  if (rc == HG_OK) printf("{\"requests_served\": %d}\n", served);
  else print_error(&err);
  hg_phone_free(&p);
  free(qr);
  return rc == HG_OK ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "selftest") == 0) return selftest();
  if (argc >= 2 && (strcmp(argv[1], "create") == 0 || strcmp(argv[1], "get") == 0)) return ceremony(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "phones") == 0) return phones(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "phone") == 0) return phone_side(argc, argv);
  fprintf(stderr, "usage: %s selftest | create|get ... | phones --links FILE | phone ...\n", argv[0]);
  return 2;
}
