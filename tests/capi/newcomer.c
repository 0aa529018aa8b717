/* SPDX-License-Identifier: Apache-2.0 */
/*
 * newcomer.c - a C program written from include/hybridgate/hybridgate.h and libhybridgate(3) alone
 * (no other source of the project read): it registers a passkey and signs in with it, the desktop
 * on the main thread and the phone (a file-backed software authenticator) on a second thread, both
 * through a tunnel server given on the command line and the loopback radio.
 *
 *   newcomer RELAY_URL WORKDIR
 *
 * It uses the 0.2 additions the way a newcomer would: separate desktop and phone settings, one
 * callback setter per callback, the credential's fields through hg_result (no JSON parser), the
 * numeric error codes in a switch, the error object, and a log handler that must never see the
 * QR code's URL. Exit status 0 when every check held; each failed check is printed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hybridgate/hybridgate.h"

static int failures = 0;
#define CHECK(cond, what)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "newcomer: FAILED: %s (line %d)\n", what, __LINE__);     \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* ---- the log handler: keep every line, look for secrets at the end */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];
static size_t log_len = 0;
static int log_lines = 0;

static void on_log(void *user, hg_log_level level, const char *message) {
  size_t n = strlen(message);
  (void)user;
  pthread_mutex_lock(&log_mu);
  if (log_len + n + 2 < sizeof log_text) {
    memcpy(log_text + log_len, message, n);
    log_len += n;
    log_text[log_len++] = '\n';
    log_text[log_len] = '\0';
  }
  log_lines++;
  pthread_mutex_unlock(&log_mu);
  if (level >= HG_LOG_INFO) fprintf(stderr, "newcomer: log: %s\n", message);
}

/* ---- the phone: serves the QR code the desktop shows, on its own thread */
struct phone_job {
  const char *relay;
  const char *store;
  char url[1024];
  int approve;
  pthread_t thread;
  int started;
  int rc;
  char code[64];
};

static int presence(void *user, const char *operation, const char *rp_id, const char *user_name) {
  struct phone_job *job = user;
  fprintf(stderr, "newcomer: phone asked: %s for %s (%s): %s\n", operation, rp_id, user_name,
          job->approve ? "yes" : "no");
  return job->approve;
}

static void *phone_main(void *arg) {
  struct phone_job *job = arg;
  hg_error err;
  hg_config *cfg = hg_config_new_phone();
  hg_phone *p = NULL;
  memset(&err, 0, sizeof err);
  if (hg_config_set_radio(cfg, "loopback", &err) == HG_OK && hg_config_set_tunnel_url(cfg, job->relay, &err) == HG_OK)
    p = hg_phone_new(cfg, job->store, &err);
  hg_config_free(&cfg);
  if (p == NULL) {
    job->rc = HG_ERR;
  } else {
    hg_phone_on_presence(p, presence, job);
    job->rc = hg_phone_serve_qr(p, job->url, 0, NULL, &err);
    hg_phone_free(&p);
  }
  if (job->rc != HG_OK) snprintf(job->code, sizeof job->code, "%s", err.code);
  return NULL;
}

/* The desktop's QR callback: instead of drawing it, hand the URL to the phone thread. */
static void on_qr(void *user, const char *fido_url) {
  struct phone_job *job = user;
  snprintf(job->url, sizeof job->url, "%s", fido_url);
  if (pthread_create(&job->thread, NULL, phone_main, job) == 0) job->started = 1;
}

static void on_stage(void *user, const char *stage, const char *detail) {
  (void)user;
  fprintf(stderr, "newcomer: stage %s %s\n", stage, detail);
}

static void phone_join(struct phone_job *job) {
  if (job->started) pthread_join(job->thread, NULL);
  job->started = 0;
}

int main(int argc, char **argv) {
  const char *relay, *workdir;
  char store[512], options[2048], qr_urls[4][1024];
  int n_urls = 0;
  hg_error err;
  hg_config *cfg;
  hg_desktop *d = NULL;
  char *cred = NULL, *id_b64;
  hg_result *reg = NULL, *sign = NULL;
  const uint8_t *id, *uh, *p;
  size_t id_len, uh_len, len;
  struct phone_job job;
  const hg_error_info *info;
  static const uint8_t user_id[] = {'n', 'e', 'w', 'c', 'o', 'm', 'e', 'r'};

  if (argc != 3) {
    fprintf(stderr, "usage: newcomer RELAY_URL WORKDIR\n");
    return 2;
  }
  relay = argv[1];
  workdir = argv[2];
  snprintf(store, sizeof store, "%s/newcomer-phone.json", workdir);
  memset(&err, 0, sizeof err);
  memset(&job, 0, sizeof job);
  job.relay = relay;
  job.store = store;

  printf("libhybridgate %s (header %d.%d)\n", hg_version(), HG_VERSION_MAJOR, HG_VERSION_MINOR);
  hg_set_log_handler(on_log, NULL, HG_LOG_DEBUG);

  /* Settings: the person's own first, then the program's. A desktop's settings refuse a phone's. */
  cfg = hg_config_new_desktop();
  CHECK(cfg != NULL, "hg_config_new_desktop");
  CHECK(hg_config_load(cfg, &err) == HG_OK, "hg_config_load");
  CHECK(hg_config_set_radio(cfg, "loopback", &err) == HG_OK, "set radio");
  CHECK(hg_config_set_tunnel_url(cfg, relay, &err) == HG_OK, "set tunnel url");
  CHECK(hg_config_set_timeout(cfg, HG_TIMEOUT_ADVERT, 30000, &err) == HG_OK, "set advert timeout");
  CHECK(hg_config_set_domain_id(cfg, 3, &err) == HG_ERR, "a desktop's settings take a phone setting");
  CHECK(hg_error_code(&err) == HG_E_INVALID_ARGUMENT, "the refused setting is invalid_argument");
  info = hg_error_last();
  CHECK(info != NULL && hg_error_info_code(info) == HG_E_INVALID_ARGUMENT, "hg_error_last after the refusal");
  CHECK(info != NULL && strstr(hg_error_info_detail(info), "domain_id") != NULL, "the detail names the setting");
  CHECK(info != NULL && strcmp(hg_error_info_name(info), "invalid_argument") == 0, "the error object's name");
  CHECK(strcmp(hg_errc_name(HG_E_CTAP_OPERATION_DENIED), "ctap.operation_denied") == 0, "hg_errc_name");
  CHECK(hg_errc_name((hg_errc)(HG_E_CONFIG_INVALID + 1000)) == NULL, "hg_errc_name past the end");
  d = hg_desktop_new(cfg, &err);
  hg_config_free(&cfg);
  if (d == NULL) {
    fprintf(stderr, "newcomer: %s: %s\n", err.code, err.message);
    return 1;
  }
  {
    /* A phone's settings are no desktop's. */
    hg_config *pc = hg_config_new_phone();
    hg_desktop *wrong = hg_desktop_new(pc, &err);
    CHECK(wrong == NULL && hg_error_code(&err) == HG_E_INVALID_ARGUMENT, "hg_desktop_new refuses a phone's settings");
    CHECK(hg_config_set_links_file(pc, "/tmp/x", &err) == HG_ERR, "a phone's settings take links_file");
    hg_desktop_free(&wrong);
    hg_config_free(&pc);
  }
  hg_desktop_on_qr(d, on_qr, &job);
  hg_desktop_on_stage(d, on_stage, NULL);

  /* Register. */
  job.approve = 1;
  snprintf(options, sizeof options,
           "{\"rp\":{\"id\":\"example.com\",\"name\":\"Example\"},"
           "\"user\":{\"id\":\"bmV3Y29tZXI\",\"name\":\"newcomer\",\"displayName\":\"New Comer\"},"
           "\"challenge\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\","
           "\"pubKeyCredParams\":[{\"type\":\"public-key\",\"alg\":-7}],"
           "\"authenticatorSelection\":{\"residentKey\":\"required\"},\"timeout\":60000}");
  if (hg_desktop_create(d, options, "https://example.com", NULL, &cred, &err) != HG_OK) {
    fprintf(stderr, "newcomer: create: %s: %s\n", err.code, err.message);
    failures++;
  }
  phone_join(&job);
  snprintf(qr_urls[n_urls++], sizeof qr_urls[0], "%s", job.url);
  CHECK(job.rc == HG_OK, "the phone served the registration");
  if (cred != NULL) {
    CHECK(hg_result_from_json(cred, &reg, &err) == HG_OK, "hg_result_from_json (create)");
    hg_free(cred);
    cred = NULL;
  }
  CHECK(hg_result_is_create(reg) == 1, "a registration result");
  hg_result_credential_id(reg, &id, &id_len);
  CHECK(id_len >= 16, "the credential ID");

  /* Sign in with that credential. */
  id_b64 = NULL;
  CHECK(hg_base64url_encode(id, id_len, &id_b64, &err) == HG_OK, "hg_base64url_encode");
  {
    uint8_t *back = NULL;
    size_t back_len = 0;
    CHECK(hg_base64url_decode(id_b64, &back, &back_len, &err) == HG_OK && back_len == id_len &&
              memcmp(back, id, id_len) == 0, "hg_base64url_decode gives the ID back");
    hg_free(back);
    CHECK(hg_base64url_decode("a+b/", &back, &back_len, &err) == HG_ERR && hg_error_code(&err) == HG_E_INVALID_ARGUMENT,
          "hg_base64url_decode refuses the '+/' alphabet");
  }
  snprintf(options, sizeof options,
           "{\"rpId\":\"example.com\",\"challenge\":\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\","
           "\"allowCredentials\":[{\"type\":\"public-key\",\"id\":\"%s\"}],\"timeout\":60000}",
           id_b64 ? id_b64 : "");
  hg_free(id_b64);
  if (hg_desktop_get(d, options, "https://example.com", NULL, &cred, &err) != HG_OK) {
    fprintf(stderr, "newcomer: get: %s: %s\n", err.code, err.message);
    failures++;
  }
  phone_join(&job);
  snprintf(qr_urls[n_urls++], sizeof qr_urls[0], "%s", job.url);
  if (cred != NULL) {
    CHECK(hg_result_from_json(cred, &sign, &err) == HG_OK, "hg_result_from_json (get)");
    hg_free(cred);
    cred = NULL;
  }
  CHECK(hg_result_is_create(sign) == 0, "a sign-in result");
  hg_result_credential_id(sign, &p, &len);
  CHECK(len == id_len && memcmp(p, id, len) == 0, "signed in with the registered credential");
  hg_result_user_handle(sign, &uh, &uh_len);
  CHECK(uh_len == sizeof user_id && memcmp(uh, user_id, uh_len) == 0, "the user handle is the registered user.id");
  CHECK(hg_result_sign_count(sign) > hg_result_sign_count(reg), "the signature counter rose");
  hg_result_auth_data(sign, &p, &len);
  CHECK(len >= 37, "the authenticator data");

  /* The person says no on the phone: a numeric code to switch on. */
  job.approve = 0;
  hg_error_clear();
  CHECK(hg_error_last() == NULL, "hg_error_clear");
  if (hg_desktop_get(d, options, "https://example.com", NULL, &cred, &err) == HG_OK) {
    failures++;
    fprintf(stderr, "newcomer: FAILED: a refused sign-in succeeded\n");
    hg_free(cred);
  } else {
    switch (hg_error_code(&err)) {
      case HG_E_CTAP_OPERATION_DENIED:
        printf("refused on the phone, as asked: %s\n", err.message);
        break;
      default:
        fprintf(stderr, "newcomer: FAILED: refusal gave %s: %s\n", err.code, err.message);
        failures++;
    }
    info = hg_error_last();
    CHECK(hg_error_info_code(info) == HG_E_CTAP_OPERATION_DENIED, "hg_error_last after the refusal");
    CHECK(strcmp(hg_error_info_sentence(info), hg_errc_sentence(HG_E_CTAP_OPERATION_DENIED)) == 0, "the sentence");
    CHECK(strncmp(hg_error_info_message(info), err.message, strlen(err.message)) == 0, "message = hg_error.message");
  }
  phone_join(&job);
  snprintf(qr_urls[n_urls++], sizeof qr_urls[0], "%s", job.url);

  hg_desktop_free(&d);
  hg_result_free(&reg);
  hg_result_free(&sign);
  hg_set_log_handler(NULL, NULL, HG_LOG_DEBUG);

  /* The log saw the ceremonies and their CTAP traffic, but never a QR code's URL. */
  pthread_mutex_lock(&log_mu);
  CHECK(log_lines > 0 && strstr(log_text, "desktop create") != NULL, "the log saw the registration");
  CHECK(strstr(log_text, "phone get_assertion for example.com: refused") != NULL, "the log saw the refusal");
  CHECK(strstr(log_text, "FIDO:/") == NULL, "a FIDO:/ URL in the log");
  {
    int i;
    for (i = 0; i < n_urls; i++) {
      /* The URL's digits hold the secret: not even a long piece of them may appear. */
      const char *digits = qr_urls[i] + 6;
      char piece[41];
      CHECK(strncmp(qr_urls[i], "FIDO:/", 6) == 0 && strlen(digits) > 40, "a QR code URL was shown");
      snprintf(piece, sizeof piece, "%s", digits + strlen(digits) / 2 - 20);
      CHECK(strstr(log_text, piece) == NULL, "a piece of the QR code's secret in the log");
    }
  }
  pthread_mutex_unlock(&log_mu);
  printf("%d log lines, %d QR codes, %s\n", log_lines, n_urls, failures ? "FAILED" : "all checks held");
  return failures ? 1 : 0;
}
