/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hybridgate.h - the C interface of libhybridgate: sign in on this computer with a passkey on a
 * phone (FIDO hybrid transport, "caBLE v2"), and act as the phone.
 *
 * C99. Every symbol is prefixed hg_ (functions, types) or HG_ (macros). Link with
 * `pkg-config --cflags --libs hybridgate`, or in CMake `find_package(hybridgate)` and
 * `target_link_libraries(app PRIVATE hybridgate::hybridgate)`.
 *
 * The desktop side (the whole reference is below; an overview in libhybridgate(3)):
 *
 *     hg_error err;
 *     hg_config *cfg = hg_config_new_desktop();
 *     hg_desktop *d = NULL;
 *     if (hg_config_load(cfg, &err) == HG_OK)     // the person's settings: config file, HYBRIDGATE_*
 *         d = hg_desktop_new(cfg, &err);          // (then setters for the program's own options)
 *     hg_config_free(&cfg);                       // the desktop keeps its own copy
 *     if (d == NULL) { fprintf(stderr, "%s: %s\n", err.code, err.message); return 1; }
 *     hg_desktop_set_callbacks(d, show_qr, on_stage, on_notice, app);
 *     char *cred = NULL;
 *     if (hg_desktop_get(d, options_json, "https://example.com", NULL, &cred, &err) == HG_OK) {
 *         send_to_server(cred);                   // PublicKeyCredential JSON
 *         hg_free(cred);
 *     } else {
 *         fprintf(stderr, "%s: %s\n", err.code, err.message);
 *     }
 *     hg_desktop_free(&d);
 *
 * CONVENTIONS (they hold for every function below unless its comment says otherwise)
 *
 * Results. Functions that can fail return int: HG_OK (0) on success, HG_ERR (-1) on failure, and
 *   fill the caller's hg_error (when the pointer is not NULL). HG_PENDING (1) is returned only by
 *   hg_desktop_dispatch. A NULL handle or a NULL required argument is a failure with the code
 *   "invalid_argument", never a crash.
 *
 * Strings. Every const char * argument is a NUL-terminated UTF-8 string, read during the call
 *   only (the library copies what it keeps). Strings the library returns through char ** are
 *   allocated by the library and owned by the caller, who releases them with hg_free(). Strings
 *   the library passes to callbacks are valid only until the callback returns.
 *
 * Threads. The library starts at most one thread per hg_desktop (for the non-blocking form), and
 *   one per request a hg_phone answers (the presence callback runs there), and none otherwise. A handle (hg_config, hg_desktop, hg_phone) is used by one thread at a time;
 *   the exceptions are hg_desktop_cancel and hg_phone_cancel (any thread, at any time between
 *   _new and _free) and hg_desktop_fd. Separate handles are independent and may be used from
 *   different threads at once. hg_version, hg_error_sentence and hg_free may be called from any
 *   thread; so may (0.2) hg_errc_name, hg_errc_sentence, hg_error_code, hg_set_log_handler, the
 *   hg_ctap_* functions and hg_private_file_*; hg_error_last is per thread.
 *
 * Secrets. The library never prints anything. The FIDO:/ URL given to the QR callback holds the
 *   ceremony's secret: show it (as a QR code) and do not log it. Error messages and stage details
 *   never contain secrets.
 */
#ifndef HYBRIDGATE_H
#define HYBRIDGATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------------- */

/* The version of this header. The library's soname changes with HG_VERSION_MAJOR. */
#define HG_VERSION_MAJOR 0
#define HG_VERSION_MINOR 2
#define HG_VERSION_PATCH 0

/* The library's version, "MAJOR.MINOR.PATCH" (static storage; never NULL). */
const char *hg_version(void);

/* ---------------------------------------------------------------------------------------------
 * Results and errors
 * ------------------------------------------------------------------------------------------- */

#define HG_OK 0
#define HG_ERR (-1)
#define HG_PENDING 1

#define HG_ERROR_CODE_SIZE 64
#define HG_ERROR_MESSAGE_SIZE 512

/*
 * What went wrong, in a buffer the caller owns (on its stack, typically): no allocation, nothing to
 * free, valid until the caller reuses it. A failing call fills both fields; a successful call
 * leaves the struct as it was.
 *   code     the stable error code, e.g. "session.no_advert", "tunnel.unreachable",
 *            "ctap.operation_denied", "session.cancelled", "invalid_argument". Codes never change
 *            meaning; programs compare them with strcmp. The hybridgate CLI prints the same codes.
 *   message  a sentence for people (the code's sentence, then details in parentheses), exactly as
 *            the CLI prints it; truncated to fit (always NUL-terminated, never in the middle of a
 *            UTF-8 character).
 */
typedef struct hg_error {
  char code[HG_ERROR_CODE_SIZE];
  char message[HG_ERROR_MESSAGE_SIZE];
} hg_error;

/* The sentence for a stable error code (static storage), or NULL if the code is unknown. */
const char *hg_error_sentence(const char *code);

/* Releases a string the library returned (credential JSON, phone lists). NULL is allowed. */
void hg_free(void *p);

/* ---------------------------------------------------------------------------------------------
 * Configuration (shared by the desktop and the phone side)
 * ------------------------------------------------------------------------------------------- */

typedef struct hg_config hg_config;

/* A configuration with the defaults noted at each setter. NULL only when out of memory. */
hg_config *hg_config_new(void);
/* Frees *cfg and sets it to NULL. cfg and *cfg may be NULL. */
void hg_config_free(hg_config **cfg);

/* Tunnel server base URL ("wss://relay.example", "ws://127.0.0.1:8080") used for every tunnel
 * domain. NULL or "" (the default) = the public tunnel servers the phone names. Anything but a
 * ws:// or wss:// URL fails here with "invalid_argument" (cfg unchanged), not during a ceremony. */
int hg_config_set_tunnel_url(hg_config *cfg, const char *url, hg_error *err);
/* Extra trusted CA certificate (PEM file) for a wss:// tunnel server. NULL or "" = none. A path
 * that is not a readable regular file fails here with "invalid_argument" (cfg unchanged). */
int hg_config_set_ca_file(hg_config *cfg, const char *path, hg_error *err);
/* The radio that proves proximity: "auto" (the default: BlueZ when an adapter is usable, else the
 * loopback radio), "bluez" or "loopback" (processes on this host; for tests and machines without
 * Bluetooth). Anything else fails with "invalid_argument". */
int hg_config_set_radio(hg_config *cfg, const char *radio, hg_error *err);
/* BlueZ adapter name, e.g. "hci0". NULL or "" (the default) = the first powered adapter. */
int hg_config_set_adapter(hg_config *cfg, const char *adapter, hg_error *err);
/* Loopback radio directory (a test radio: both sides must use the same one). NULL or "" (the
 * default) = $XDG_RUNTIME_DIR/hybridgate-radio, or /tmp/hybridgate-radio-UID without
 * XDG_RUNTIME_DIR ($HYBRIDGATE_RADIO_DIR through hg_config_load). The last part of the path is
 * created (mode 0700) when a ceremony starts; its parent must exist. */
int hg_config_set_loopback_dir(hg_config *cfg, const char *dir, hg_error *err);

/* Desktop only: the file of remembered phones (mode 0600). NULL or "" (the default) =
 * $XDG_DATA_HOME/hybridgate/links.json, the file the hybridgate CLI uses. */
int hg_config_set_links_file(hg_config *cfg, const char *path, hg_error *err);
/* Desktop only: nonzero = QR codes offer linking, and a phone that agrees is remembered (default
 * 0). */
int hg_config_set_link_phone(hg_config *cfg, int link_phone, hg_error *err);

typedef enum hg_timeout {
  HG_TIMEOUT_ADVERT = 0,     /* desktop: QR code shown -> the phone's advert (default 120 s) */
  HG_TIMEOUT_CONNECT = 1,    /* both: connecting to the tunnel server (default 15 s) */
  HG_TIMEOUT_HANDSHAKE = 2,  /* desktop: the secure-channel handshake (default 15 s) */
  HG_TIMEOUT_RESPONSE = 3,   /* desktop: request sent -> the phone's answer (default 180 s) */
  HG_TIMEOUT_DESKTOP = 4,    /* phone: advertising -> the desktop's handshake (default 120 s) */
  HG_TIMEOUT_IDLE = 5        /* phone: between messages after the handshake (default 180 s) */
} hg_timeout;
/* Sets one deadline, in milliseconds (1 .. 86400000). */
int hg_config_set_timeout(hg_config *cfg, hg_timeout which, uint32_t milliseconds, hg_error *err);

/* Desktop only: the remembered phone to use when a ceremony names none (NULL or "" = show a QR
 * code; the default). */
int hg_config_set_phone(hg_config *cfg, const char *name, hg_error *err);
/* Desktop only: also write each QR code's FIDO:/ URL to this file (mode 0600, replaced atomically),
 * for a GUI or a test to pick up, and removed when the ceremony ends. NULL or "" (the default) =
 * no file. A path whose folder does not exist fails here with "invalid_argument". */
int hg_config_set_qr_url_file(hg_config *cfg, const char *path, hg_error *err);

/*
 * Loads the desktop configuration every hybridgate program shares, on top of what cfg holds:
 *   1. the config file: $HYBRIDGATE_CONFIG if set (it must exist), else
 *      $XDG_CONFIG_HOME/hybridgate/config (default ~/.config/hybridgate/config; may be absent).
 *      TOML `key = value` lines: tunnel_url, ca_file, radio, adapter, loopback_dir, links_file,
 *      phone, qr_url_file, link_phone (true/false), advert_timeout, connect_timeout,
 *      handshake_timeout, response_timeout (seconds). Relative paths are relative to the file.
 *   2. the environment, one variable per key (overriding the file): HYBRIDGATE_TUNNEL_URL,
 *      HYBRIDGATE_CA_FILE, HYBRIDGATE_RADIO (auto|bluez|loopback), HYBRIDGATE_ADAPTER,
 *      HYBRIDGATE_RADIO_DIR (loopback_dir), HYBRIDGATE_LINKS_FILE, HYBRIDGATE_PHONE,
 *      HYBRIDGATE_QR_URL_FILE, HYBRIDGATE_LINK_PHONE, HYBRIDGATE_ADVERT_TIMEOUT,
 *      HYBRIDGATE_CONNECT_TIMEOUT, HYBRIDGATE_HANDSHAKE_TIMEOUT, HYBRIDGATE_RESPONSE_TIMEOUT. An
 *      empty variable counts as unset (HYBRIDGATE_CONFIG too).
 * Call it first, then the setters for what the program's own options say. An unknown key, a
 * malformed file or a bad value (a tunnel_url that is not ws:// or wss://, a ca_file that does not
 * exist, a qr_url_file in a missing folder, ...) fails with "config.invalid", whose message names
 * the file and key or the variable, and leaves cfg unchanged. The settings
 * both sides have (tunnel_url, ca_file, radio, adapter, loopback_dir, connect_timeout) apply to
 * both, as with the setters; the phone's own settings are not read from it.
 */
int hg_config_load(hg_config *cfg, hg_error *err);

/*
 * Any desktop setting by its key, with its value as text, exactly as in the config file
 * (the table in configuration.md, installed with the documentation): "tunnel_url", "ca_file", "radio", "adapter", "loopback_dir",
 * "links_file", "phone", "qr_url_file", "link_phone" ("true"/"false"), "advert_timeout",
 * "connect_timeout", "handshake_timeout", "response_timeout" (seconds, e.g. "30" or "2.5").
 * NULL or "" resets a text or path setting to its default. An unknown key or a bad value fails
 * with "invalid_argument" (cfg unchanged), as does a desktop-only key on a phone configuration
 * (hg_config_new_phone). For programs that pass settings through from their own configuration (a
 * PAM line, keyword arguments) without a copy of the list. Since 0.2.
 */
int hg_config_set(hg_config *cfg, const char *key, const char *value, hg_error *err);
/* The key of desktop setting number `index` (0, 1, ...; static storage), or NULL past the last:
 * the list hg_config_set accepts, in the order of the table in configuration.md. Since 0.2. */
const char *hg_config_setting_key(size_t index);

/*
 * One desktop setting as it stands (after hg_config_load and the setters), as text in *value
 * (release with hg_free): "tunnel_url", "ca_file", "links_file", "phone", "qr_url_file" ("" when
 * unset) or "link_phone" ("true"/"false"). A bridge asks, e.g., whether a QR URL file will carry
 * the QR code where it has no terminal to draw it on. Another key fails with "invalid_argument".
 */
int hg_config_get(const hg_config *cfg, const char *key, char **value, hg_error *err);

/* Phone only: the tunnel domain ID to open tunnels at and to put in the advert (default 0). */
int hg_config_set_domain_id(hg_config *cfg, uint16_t domain_id, hg_error *err);
/* Phone only: the link state file (root secret, relay contact; mode 0600). NULL or "" (the
 * default) = this phone never links and cannot listen. */
int hg_config_set_link_state(hg_config *cfg, const char *path, hg_error *err);
/* Phone only: the name linked desktops show. NULL or "" (the default) = "hybridgate on HOSTNAME". */
int hg_config_set_phone_name(hg_config *cfg, const char *name, hg_error *err);

/* ---------------------------------------------------------------------------------------------
 * Callbacks
 * ------------------------------------------------------------------------------------------- */

/* The FIDO:/ URL to show as a QR code (not called when a remembered phone is used). It holds the
 * ceremony's secret: show it, never log it. */
typedef void hg_qr_cb(void *user, const char *fido_url);
/*
 * Progress. `stage` is one of these stable names, `detail` a short text for logs ("" if none):
 *   desktop, in order: "qr_shown", "scanning", "phone_found", "tunnel_connected",
 *                      "secure_channel", "waiting_for_user", "done"
 *   phone:             "tunnel_opened", "advertising", "desktop_connected", "request_served",
 *                      "listening", "woken", "reconnecting" (the listen connection ended; again after a backoff)
 * Stages may be skipped (a remembered phone shows no QR code); new names may be added in minor
 * versions, so ignore names you do not know.
 */
typedef void hg_stage_cb(void *user, const char *stage, const char *detail);
/* A sentence for the person, e.g. "the phone does not offer the PRF extension". */
typedef void hg_notice_cb(void *user, const char *sentence);

/* ---------------------------------------------------------------------------------------------
 * Desktop: navigator.credentials.create() / .get() with a phone
 * ------------------------------------------------------------------------------------------- */

typedef struct hg_desktop hg_desktop;

/* A desktop with a copy of cfg (cfg may be freed at once; NULL = the defaults). NULL on failure
 * (err says why). */
hg_desktop *hg_desktop_new(const hg_config *cfg, hg_error *err);
/* Frees *d and sets it to NULL; d and *d may be NULL. A non-blocking ceremony still running is
 * cancelled and waited for (its queued callbacks are dropped, not called). Not while a blocking call
 * runs on another thread (cancel it and let it return first), and not from a callback of the same
 * desktop. */
void hg_desktop_free(hg_desktop **d);

/* Callbacks for the following ceremonies; any may be NULL. `user` is passed back unchanged. Set
 * them while no ceremony runs. In the blocking form they run on the calling thread, in the
 * non-blocking form on the thread calling hg_desktop_dispatch. A callback may call
 * hg_desktop_cancel; it must not call any other hg_desktop_ function on the same desktop. */
void hg_desktop_set_callbacks(hg_desktop *d, hg_qr_cb *qr, hg_stage_cb *stage, hg_notice_cb *notice, void *user);

/*
 * Blocking form: runs one ceremony to completion on the calling thread.
 *   options_json  create: PublicKeyCredentialCreationOptionsJSON, get:
 *                 PublicKeyCredentialRequestOptionsJSON, as relying-party libraries emit them
 *                 (binary members base64url; a {"publicKey": {...}} wrapper is accepted). rp.id /
 *                 rpId are required. Honoured: excludeCredentials / allowCredentials,
 *                 authenticatorSelection (residentKey, userVerification), attestation,
 *                 extensions.prf, timeout (milliseconds: bounds the whole call, which then
 *                 ends with "session.deadline").
 *   origin        the origin the clientDataJSON names, e.g. "https://example.com".
 *   phone         NULL or "": the remembered phone of hg_config_set_phone / the configuration's
 *                 `phone` when one is set, else a QR code (the qr callback). A name from
 *                 hg_desktop_phones: that remembered phone (no QR code; the relay wakes it).
 *   credential    on HG_OK, *credential is the PublicKeyCredential in its toJSON() form, to send
 *                 to the relying party; release it with hg_free. On HG_ERR it is set to NULL.
 * Errors include "invalid_argument" (the options), "session.no_advert", "tunnel.*", "ble.*",
 * "ctap.*" (the phone's answer, e.g. "ctap.operation_denied"), "session.cancelled".
 */
int hg_desktop_create(hg_desktop *d, const char *options_json, const char *origin, const char *phone,
                      char **credential, hg_error *err);
int hg_desktop_get(hg_desktop *d, const char *options_json, const char *origin, const char *phone,
                   char **credential, hg_error *err);

/*
 * Non-blocking form, for a GTK/Qt/libuv main loop: start a ceremony (on a thread the library
 * owns), watch hg_desktop_fd for readability, and call hg_desktop_dispatch when it is readable.
 *   start_*   same arguments as the blocking form, less the result. Fails with
 *             "invalid_argument" when a ceremony is already running on this desktop.
 *   fd        a file descriptor (an eventfd) that becomes readable when callbacks are queued or
 *             the ceremony ends. Owned by the desktop: do not read, write or close it. The same
 *             descriptor for the desktop's whole life. GLib: g_unix_fd_add(fd, G_IO_IN, ...);
 *             Qt: QSocketNotifier(fd, QSocketNotifier::Read).
 *   dispatch  runs the queued callbacks (qr, stage, notice) on the calling thread, then returns
 *             HG_PENDING while the ceremony still runs. When it has ended: HG_OK with *credential
 *             set (release with hg_free), or HG_ERR with err filled; the desktop is then idle and
 *             a new ceremony may start. With no ceremony started: HG_ERR, "invalid_argument".
 *             It never blocks.
 * Cancel with hg_desktop_cancel; the end (HG_ERR, "session.cancelled") still arrives through
 * dispatch.
 */
int hg_desktop_start_create(hg_desktop *d, const char *options_json, const char *origin, const char *phone,
                            hg_error *err);
int hg_desktop_start_get(hg_desktop *d, const char *options_json, const char *origin, const char *phone,
                         hg_error *err);
int hg_desktop_fd(const hg_desktop *d);
int hg_desktop_dispatch(hg_desktop *d, char **credential, hg_error *err);

/* Ends the running ceremony (blocking or not) with "session.cancelled"; the tunnel is closed so
 * the phone learns at once. Any thread, any time (including from a callback or a signal-handling
 * thread, not from a signal handler). No effect when no ceremony runs. Does not wait. */
void hg_desktop_cancel(hg_desktop *d);

/*
 * Remembered phones (linked with hg_config_set_link_phone). Fail with "invalid_argument" while a
 * ceremony runs on this desktop.
 *   phones  *json = a JSON array, oldest first:
 *           [{"name": "Pixel 8", "domain_id": 0, "tunnel_url": "", "created": 1764500000,
 *             "contact_tag": "1a2b3c4d"}]   (created: Unix time; contact_tag tells phones apart)
 *           Release it with hg_free.
 *   forget  removes the phone of that name; *forgotten (may be NULL) = 1 if there was one, else 0.
 */
int hg_desktop_phones(hg_desktop *d, char **json, hg_error *err);
int hg_desktop_forget(hg_desktop *d, const char *name, int *forgotten, hg_error *err);

/* ---------------------------------------------------------------------------------------------
 * Desktop: raw CTAP2 with a phone, for clients that build their own requests (an OpenSSH
 * security-key provider, a PAM module, python-fido2)
 * ------------------------------------------------------------------------------------------- */

typedef struct hg_connection hg_connection;

/* What the QR code announces to the phone (it may choose its screen by it). */
typedef enum hg_request_hint {
  HG_HINT_MAKE_CREDENTIAL = 0,
  HG_HINT_GET_ASSERTION = 1
} hg_request_hint;

/*
 * Connects to a phone the way hg_desktop_create/get do (a QR code through the qr callback, or the
 * remembered phone `phone`, or the configured one when phone is NULL or ""), on the calling thread,
 * and returns the open, end-to-end encrypted connection. NO origin or RP ID rules apply: the caller
 * builds the CTAP requests (and their clientDataHash) itself, so use this only for clients whose
 * application ID is not a web origin (OpenSSH's "ssh:", a PAM module's own). While the connection
 * is open no other ceremony can run on this desktop ("invalid_argument"); hg_desktop_cancel ends a
 * connect or transact in progress with "session.cancelled". NULL on failure (err says why).
 */
hg_connection *hg_desktop_connect(hg_desktop *d, hg_request_hint hint, const char *phone, hg_error *err);

/* The phone's authenticatorGetInfo response (CBOR map, no status byte), from the handshake: no
 * round trip. *info stays valid until hg_connection_close. */
int hg_connection_get_info(const hg_connection *c, const uint8_t **info, size_t *info_len, hg_error *err);

/*
 * One CTAP2 request (command byte || CBOR parameters) → the phone's response (status byte ||
 * CBOR), in a buffer released with hg_free. A CTAP error status (e.g. 0x27 operation denied) is a
 * response like any other: HG_OK. HG_ERR means the connection failed (the phone went away, the
 * response deadline passed, cancelled); the connection is then of no further use. Requests go one
 * at a time; callbacks (stage) run on the calling thread.
 */
int hg_connection_transact(hg_connection *c, const uint8_t *request, size_t request_len, uint8_t **response,
                           size_t *response_len, hg_error *err);

/* Closes the tunnel (the phone learns at once; a phone that offered to be remembered is stored)
 * and frees *c, setting it to NULL; c and *c may be NULL. Before hg_desktop_free of its desktop. */
void hg_connection_close(hg_connection **c);

/* ---------------------------------------------------------------------------------------------
 * Showing a QR code on a terminal
 * ------------------------------------------------------------------------------------------- */

/*
 * `text` (e.g. the FIDO:/ URL a qr callback received) as a QR code drawn with UTF-8 half blocks,
 * two module rows per line, with a quiet zone of two modules; lines end with '\n'. dark_on_light
 * 0 (the usual light-on-dark terminal) draws the light modules as blocks, nonzero the dark ones.
 * *text_out is released with hg_free. The URL's secret is in the drawing: write it to the person's
 * terminal only, never to a log. Fails with "invalid_argument" for an empty text or one too long
 * for a QR code.
 */
int hg_qr_terminal(const char *text, int dark_on_light, char **text_out, hg_error *err);

/* ---------------------------------------------------------------------------------------------
 * Phone: a software authenticator whose passkeys live in a file
 * ------------------------------------------------------------------------------------------- */

typedef struct hg_phone hg_phone;

/*
 * Asks the person whether to go ahead. Return nonzero to approve, 0 to refuse (the desktop then
 * gets "ctap.operation_denied"). `operation` is "make_credential", "get_assertion", "excluded" (a
 * passkey for this account exists already; the person acknowledges) or "selection"; rp_id and
 * user_name may be "". Called on a thread the library starts for the request (not the thread
 * running the ceremony), one request at a time; meanwhile the ceremony keeps watching the tunnel.
 * If the desktop goes away (closes, times out) or hg_phone_cancel is called before the callback
 * returns, the request is withdrawn: whatever the callback then answers, nothing is created,
 * signed or counted, and the serving call returns once the callback has returned. Answer within
 * the desktop's patience (its response deadline: 180 s by default).
 */
typedef int hg_presence_cb(void *user, const char *operation, const char *rp_id, const char *user_name);

/*
 * A phone with a copy of cfg (NULL = defaults) whose credentials live in the file store_path
 * (JSON, created with mode 0600; refused with "store.permissions" when others can read it, and
 * "store.corrupt" when it is not a credential file). Several phones and processes may share a store
 * file (changes are made under a lock on STORE_PATH.lock). NULL on failure (err says why).
 */
hg_phone *hg_phone_new(const hg_config *cfg, const char *store_path, hg_error *err);

/*
 * hg_phone_new for a store sealed with a passphrase (`hybridgate phone --seal`: its private keys
 * are encrypted with a key derived from the passphrase; hg_phone_new refuses it with
 * "store.sealed"). passphrase: passphrase_len bytes (UTF-8, as the person typed it, without a
 * newline; not NUL-terminated necessarily); the library keeps only the derived key and wipes its
 * copies, the caller wipes its own. A wrong passphrase is "store.passphrase" and the file is only
 * read: nothing is lost. A plaintext store opens as with hg_phone_new (it is never sealed by this
 * call). Deriving the key takes about half a second (scrypt, 128 MiB). A store sealed by a TPM
 * (`hybridgate phone --seal --tpm`) is refused with "store.sealed": the library does not carry the
 * TPM stack (tpm2-tss); only the hybridgate program opens those. Added in 0.2.
 */
hg_phone *hg_phone_new_sealed(const hg_config *cfg, const char *store_path, const char *passphrase,
                              size_t passphrase_len, hg_error *err);
/* Frees *p and sets it to NULL; p and *p may be NULL. Not while a call runs on another thread
 * (cancel it with hg_phone_cancel and let it return first), and not from a callback. */
void hg_phone_free(hg_phone **p);

/* The presence prompt; NULL (the default) refuses every request. Progress: see hg_stage_cb. Set
 * them while no call runs; stage runs on the thread of the serving call, presence on the request's
 * thread (see hg_presence_cb). */
void hg_phone_set_callbacks(hg_phone *p, hg_presence_cb *presence, hg_stage_cb *stage, void *user);

/*
 * User verification, separate from presence: the presence callback only ever says "the person is
 * there and agrees"; it never makes the phone claim the person was verified. A phone claims
 * verification (getInfo "uv": true, the UV flag) only once its store has a PIN
 * (hg_phone_set_pin, or a platform's CTAP clientPIN) and the person entered it: through a
 * platform's pinUvAuthToken, or through this callback when a request asks for verification.
 *
 * The callback asks the person for the store's PIN for `operation` at rp_id as user_name (as for
 * hg_presence_cb; same thread rules). `retries` = tries left before the PIN is blocked for good;
 * `again` nonzero = the PIN entered before was wrong. Write the PIN (UTF-8, NUL-terminated, at most
 * pin_cap - 1 bytes) into `pin` and return nonzero, or return 0 to refuse. Entering the PIN is
 * also the person's consent: the presence callback is not asked as well. Without this callback
 * (the default), a request that requires verification is refused. The library wipes `pin` after
 * use. Added in 0.x (additive: programs that never call it keep working and never report UV).
 */
typedef int hg_pin_cb(void *user, const char *operation, const char *rp_id, const char *user_name, int retries,
                      int again, char *pin, size_t pin_cap);
void hg_phone_set_verification_callback(hg_phone *p, hg_pin_cb *pin, void *user);

/*
 * Sets the store's PIN (UTF-8, 4 to 63 bytes, at least 4 characters), or changes it: current_pin
 * must then be the PIN set now (a wrong one counts against the retries; NULL when none is set).
 * Errors: "ctap.status" with the CTAP reason in the message (e.g. CTAP2_ERR_PIN_POLICY_VIOLATION,
 * CTAP2_ERR_PIN_INVALID, CTAP2_ERR_PIN_BLOCKED, CTAP2_ERR_NOT_ALLOWED when a PIN is set and
 * current_pin is NULL). Not while a call runs.
 */
int hg_phone_set_pin(hg_phone *p, const char *new_pin, const char *current_pin, hg_error *err);

/*
 * Blocking calls (cancel from another thread with hg_phone_cancel):
 *   serve_qr  one ceremony for the desktop that shows this FIDO:/ URL: open a tunnel, advertise,
 *             answer its requests. link nonzero: agree to be remembered when the QR code offers
 *             it (needs a link state file and a tunnel URL). *requests_served (may be NULL) = the
 *             number of CTAP requests answered.
 *   listen    serve linked desktops: keep a connection to the relay and answer each wake-up,
 *             until max_wakeups wake-ups (0 = until the connection ends or hg_phone_cancel).
 *             *wakeups (may be NULL) = the number served.
 *   unlink    revoke this phone's contact at the relay: every desktop's link to it dies.
 */
int hg_phone_serve_qr(hg_phone *p, const char *fido_url, int link, int *requests_served, hg_error *err);
int hg_phone_listen(hg_phone *p, int max_wakeups, int *wakeups, hg_error *err);
int hg_phone_unlink(hg_phone *p, hg_error *err);

/* Ends the running call with "session.cancelled". Any thread, any time; no effect when no call
 * runs. Does not wait. */
void hg_phone_cancel(hg_phone *p);


/* =============================================================================================
 * Added in 0.2 (symbol version HYBRIDGATE_0.2). Everything above keeps working unchanged.
 * ============================================================================================= */

/* ---------------------------------------------------------------------------------------------
 * Numeric error codes
 * ------------------------------------------------------------------------------------------- */

/*
 * One value per stable error code (hg_error.code), for a `switch`. The values never change and
 * are never reused; new codes get new values at the end (a program should have a `default:`).
 * HG_E_X is the code "x" with '.' written as '_' and upper-cased: HG_E_CTAP_OPERATION_DENIED is
 * "ctap.operation_denied". The library does not build unless this list matches its own codes one
 * for one, in order.
 */
typedef enum hg_errc {
  HG_E_OK = 0,
  HG_E_INTERNAL = 1,
  HG_E_INVALID_ARGUMENT = 2,
  HG_E_HEX_INVALID = 3,
  HG_E_BASE64_INVALID = 4,
  HG_E_DIGITS_NON_DIGIT = 5,
  HG_E_DIGITS_LENGTH = 6,
  HG_E_DIGITS_RANGE = 7,
  HG_E_QR_PREFIX = 8,
  HG_E_QR_EMPTY = 9,
  HG_E_QR_CBOR = 10,
  HG_E_QR_MISSING_KEY = 11,
  HG_E_QR_BAD_KEY = 12,
  HG_E_QR_BAD_SECRET = 13,
  HG_E_QR_BAD_FIELD = 14,
  HG_E_CBOR_MALFORMED = 15,
  HG_E_CBOR_TOO_LARGE = 16,
  HG_E_CBOR_NOT_CANONICAL = 17,
  HG_E_CBOR_UNSUPPORTED = 18,
  HG_E_CBOR_TYPE = 19,
  HG_E_CRYPTO = 20,
  HG_E_KEY_INVALID = 21,
  HG_E_EID_LENGTH = 22,
  HG_E_EID_TAG = 23,
  HG_E_EID_RESERVED = 24,
  HG_E_EID_DOMAIN = 25,
  HG_E_DOMAIN_UNKNOWN = 26,
  HG_E_URL_INVALID = 27,
  HG_E_NOISE_LENGTH = 28,
  HG_E_NOISE_DECRYPT = 29,
  HG_E_NOISE_KEY = 30,
  HG_E_CRYPTER_DECRYPT = 31,
  HG_E_CRYPTER_PADDING = 32,
  HG_E_CRYPTER_EXHAUSTED = 33,
  HG_E_FRAME_TYPE = 34,
  HG_E_FRAME_EMPTY = 35,
  HG_E_MESSAGE_INVALID = 36,
  HG_E_LINKING_SIGNATURE = 37,
  HG_E_LINKING_INVALID = 38,
  HG_E_CTAP_INVALID = 39,
  HG_E_CTAP_STATUS = 40,
  HG_E_CTAP_INVALID_COMMAND = 41,
  HG_E_CTAP_INVALID_PARAMETER = 42,
  HG_E_CTAP_INVALID_LENGTH = 43,
  HG_E_CTAP_UNEXPECTED_TYPE = 44,
  HG_E_CTAP_INVALID_CBOR = 45,
  HG_E_CTAP_MISSING_PARAMETER = 46,
  HG_E_CTAP_CREDENTIAL_EXCLUDED = 47,
  HG_E_CTAP_UNSUPPORTED_ALGORITHM = 48,
  HG_E_CTAP_OPERATION_DENIED = 49,
  HG_E_CTAP_UNSUPPORTED_OPTION = 50,
  HG_E_CTAP_INVALID_OPTION = 51,
  HG_E_CTAP_CANCELLED = 52,
  HG_E_CTAP_NO_CREDENTIALS = 53,
  HG_E_CTAP_USER_ACTION_TIMEOUT = 54,
  HG_E_CTAP_NOT_ALLOWED = 55,
  HG_E_CTAP_OTHER = 56,
  HG_E_STORE_PERMISSIONS = 57,
  HG_E_STORE_CORRUPT = 58,
  HG_E_IO = 59,
  HG_E_BLE_NO_SYSTEM_BUS = 60,
  HG_E_BLE_NO_BLUEZ = 61,
  HG_E_BLE_NO_ADAPTER = 62,
  HG_E_BLE_ADAPTER_OFF = 63,
  HG_E_BLE_RFKILL = 64,
  HG_E_BLE_PERMISSION = 65,
  HG_E_BLE_NO_ADVERTISING = 66,
  HG_E_BLE_ADVERTISING_BUSY = 67,
  HG_E_BLE_FAILED = 68,
  HG_E_TUNNEL_UNREACHABLE = 69,
  HG_E_TUNNEL_REFUSED = 70,
  HG_E_TUNNEL_GONE = 71,
  HG_E_TUNNEL_PROTOCOL = 72,
  HG_E_TUNNEL_CLOSED = 73,
  HG_E_SESSION_NO_ADVERT = 74,
  HG_E_SESSION_HANDSHAKE = 75,
  HG_E_SESSION_PHONE_CLOSED = 76,
  HG_E_SESSION_DEADLINE = 77,
  HG_E_SESSION_CANCELLED = 78,
  HG_E_ORIGIN_INVALID = 79,
  HG_E_ORIGIN_INSECURE = 80,
  HG_E_RP_ID_INVALID = 81,
  HG_E_RP_ID_MISMATCH = 82,
  HG_E_RP_ID_PUBLIC_SUFFIX = 83,
  HG_E_CONFIG_INVALID = 84,
  HG_E_STORE_LOCKED = 85,       /* since 0.2 */
  HG_E_STORE_SEALED = 86,       /* since 0.2 */
  HG_E_STORE_PASSPHRASE = 87    /* since 0.2 */
  /* New codes are added here, with the next values. */
} hg_errc;

/* The stable code's name ("ctap.operation_denied") and sentence for a value (static storage), or
 * NULL for a value this library does not know. */
const char *hg_errc_name(hg_errc code);
const char *hg_errc_sentence(hg_errc code);
/* The numeric code of a filled hg_error (HG_E_OK for a zeroed one never filled; HG_E_INTERNAL for
 * a code this library does not know). err may be NULL (HG_E_OK). */
hg_errc hg_error_code(const hg_error *err);

/* ---------------------------------------------------------------------------------------------
 * The error object: what the last failing call on this thread said, through accessors (it can gain
 * fields without breaking programs, unlike the fixed hg_error struct)
 * ------------------------------------------------------------------------------------------- */

typedef struct hg_error_info hg_error_info;

/*
 * The error of the last hg_ call that failed on the calling thread (whether or not it was given
 * an hg_error), or NULL when none has failed since the thread started or since hg_error_clear.
 * Owned by the library; valid until the next failing hg_ call on this thread or hg_error_clear.
 * Successful calls leave it as it was (as with errno, look only after a failure). Callbacks run
 * on the thread named at each callback; an hg_ call failing inside a callback replaces it.
 */
const hg_error_info *hg_error_last(void);
void hg_error_clear(void);
/* Accessors; each takes NULL (HG_E_OK / ""). Strings live as long as the error object. */
hg_errc hg_error_info_code(const hg_error_info *e);
const char *hg_error_info_name(const hg_error_info *e);     /* "ctap.operation_denied" */
const char *hg_error_info_sentence(const hg_error_info *e); /* the code's sentence */
const char *hg_error_info_detail(const hg_error_info *e);   /* what this failure adds ("" if nothing) */
/* "sentence (detail)", as the CLI prints it, untruncated. */
const char *hg_error_info_message(const hg_error_info *e);

/* ---------------------------------------------------------------------------------------------
 * Log handler
 * ------------------------------------------------------------------------------------------- */

typedef enum hg_log_level {
  HG_LOG_DEBUG = 0,   /* each CTAP request and answer (command, status, sizes), each stage */
  HG_LOG_INFO = 1,    /* ceremonies and connections starting and ending */
  HG_LOG_WARNING = 2, /* notices for the person (hg_notice_cb) */
  HG_LOG_ERROR = 3    /* failures (the error's code, sentence and detail) */
} hg_log_level;

/*
 * One log line: `message` is a sentence without a trailing newline, valid during the call. Never
 * holds a secret: no QR code URL, no key, no CTAP payload (commands, status bytes and sizes only).
 * Called on whichever thread does the work (the caller's, a non-blocking desktop's worker, a
 * phone's request thread), possibly from several threads at once: make it thread-safe, quick,
 * and do not call hg_ functions from it.
 */
typedef void hg_log_cb(void *user, hg_log_level level, const char *message);

/* Sets the process-wide log handler (NULL, the default, = no logging) and the least level it is
 * called for. Any thread, any time; a line being delivered finishes with the previous handler. */
void hg_set_log_handler(hg_log_cb *handler, void *user, hg_log_level min_level);

/* ---------------------------------------------------------------------------------------------
 * Desktop and phone settings apart
 * ------------------------------------------------------------------------------------------- */

/*
 * A configuration for one side. hg_config_new()'s configuration serves both (as in 0.1); one made
 * here refuses the other side's setters with "invalid_argument" naming the setting (e.g.
 * hg_config_set_domain_id on a desktop's), and hg_desktop_new refuses a phone's configuration and
 * hg_phone_new a desktop's. hg_config_load on a phone's configuration applies the shared settings
 * (tunnel_url, ca_file, radio, adapter, loopback_dir, connect_timeout) only.
 */
hg_config *hg_config_new_desktop(void);
hg_config *hg_config_new_phone(void);

/* ---------------------------------------------------------------------------------------------
 * Callbacks one at a time (new kinds get new setters; each has its own user pointer)
 * ------------------------------------------------------------------------------------------- */

/* Same rules as hg_desktop_set_callbacks (set them while no ceremony runs); NULL removes one. */
void hg_desktop_on_qr(hg_desktop *d, hg_qr_cb *cb, void *user);
void hg_desktop_on_stage(hg_desktop *d, hg_stage_cb *cb, void *user);
void hg_desktop_on_notice(hg_desktop *d, hg_notice_cb *cb, void *user);
/* Same rules as hg_phone_set_callbacks. */
void hg_phone_on_presence(hg_phone *p, hg_presence_cb *cb, void *user);
void hg_phone_on_stage(hg_phone *p, hg_stage_cb *cb, void *user);

/* ---------------------------------------------------------------------------------------------
 * The credential JSON's fields without a JSON parser
 * ------------------------------------------------------------------------------------------- */

typedef struct hg_result hg_result;

/*
 * Reads the PublicKeyCredential JSON that hg_desktop_create/get/dispatch returned (or one like it)
 * into *out, released with hg_result_free. "invalid_argument" when it is not such a JSON.
 *   credential_id  the raw credential ID (rawId, decoded)       -- keep it for allowCredentials
 *   user_handle    the user handle of a sign-in (empty when the phone sent none, and at create)
 *   sign_count     the authenticator data's signature counter
 *   auth_data      the raw authenticator data
 *   json           the JSON itself (as given)
 *   is_create      1 for a registration (attestation response), 0 for a sign-in
 * Byte accessors set *data (owned by the result) and *len; an empty field gives *len = 0.
 */
int hg_result_from_json(const char *credential_json, hg_result **out, hg_error *err);
void hg_result_free(hg_result **r);
void hg_result_credential_id(const hg_result *r, const uint8_t **data, size_t *len);
void hg_result_user_handle(const hg_result *r, const uint8_t **data, size_t *len);
void hg_result_auth_data(const hg_result *r, const uint8_t **data, size_t *len);
uint32_t hg_result_sign_count(const hg_result *r);
const char *hg_result_json(const hg_result *r);
int hg_result_is_create(const hg_result *r);

/* base64url without padding, as WebAuthn JSON carries binary members (a credential ID for
 * allowCredentials, a challenge): *text is released with hg_free. decode accepts exactly what
 * encode produces (no padding, no '+' or '/', no blanks) and fails with "invalid_argument"
 * otherwise; *data (hg_free) may be NULL for an empty input. */
int hg_base64url_encode(const uint8_t *data, size_t len, char **text, hg_error *err);
int hg_base64url_decode(const char *text, uint8_t **data, size_t *len, hg_error *err);

/* ---------------------------------------------------------------------------------------------
 * Raw CTAP2 with the library's codecs and checks (for an OpenSSH provider, a PAM module, any client
 * whose application ID is not a web origin): requests built, answers decoded and checked, the
 * fields read through accessors. No CBOR or crypto library needed by the caller.
 * ------------------------------------------------------------------------------------------- */

/* COSE algorithms of a credential's key. */
#define HG_COSE_ES256 (-7) /* ECDSA P-256 with SHA-256 */
#define HG_COSE_EDDSA (-8) /* Ed25519 */

/* Request flags (bits; others must be 0). */
#define HG_CTAP_RESIDENT_KEY 0x01u      /* make_credential: a discoverable credential (rk) */
#define HG_CTAP_USER_VERIFICATION 0x02u /* both: ask the phone to verify the person (uv) */
#define HG_CTAP_NO_USER_PRESENCE 0x04u  /* get_assertion: up = false (OpenSSH's no-touch-required) */

/* Authenticator data flags (hg_credential_flags, hg_assertion_flags). */
#define HG_AUTH_DATA_UP 0x01u /* user present */
#define HG_AUTH_DATA_UV 0x04u /* user verified */

/* A list of credential IDs (exclude or allow list): count pointers and their lengths. */
typedef struct hg_id_list {
  const uint8_t *const *ids;
  const size_t *lens;
  size_t count;
} hg_id_list;

typedef struct hg_credential hg_credential; /* a checked makeCredential answer */
typedef struct hg_assertion hg_assertion;   /* a checked getAssertion answer */

/*
 * authenticatorMakeCredential (command byte || CBOR) in *request (hg_free):
 *   rp_id, rp_name       the application ("ssh:", "pam:hybridgate"); rp_name NULL = rp_id
 *   client_data_hash     32 bytes
 *   user_id, user_id_len the user handle (1..64 bytes); user_name and display_name NULL = ""
 *   alg                  HG_COSE_ES256 or HG_COSE_EDDSA
 *   exclude              credentials the phone must not hold already (NULL = none)
 *   flags                HG_CTAP_RESIDENT_KEY, HG_CTAP_USER_VERIFICATION
 */
int hg_ctap_make_credential_request(const char *rp_id, const char *rp_name, const uint8_t *client_data_hash,
                                    const uint8_t *user_id, size_t user_id_len, const char *user_name,
                                    const char *display_name, int32_t alg, const hg_id_list *exclude, unsigned flags,
                                    uint8_t **request, size_t *request_len, hg_error *err);
/* authenticatorGetAssertion: allow NULL or empty = any discoverable credential of rp_id (several
 * are then fetched with hg_ctap_get_next_assertion_request). flags: HG_CTAP_USER_VERIFICATION,
 * HG_CTAP_NO_USER_PRESENCE. */
int hg_ctap_get_assertion_request(const char *rp_id, const uint8_t *client_data_hash, const hg_id_list *allow,
                                  unsigned flags, uint8_t **request, size_t *request_len, hg_error *err);
/* authenticatorGetNextAssertion (the command byte alone). */
int hg_ctap_get_next_assertion_request(uint8_t **request, size_t *request_len, hg_error *err);

/*
 * The phone's makeCredential answer (status byte || CBOR), decoded and checked: a non-zero status is
 * its ctap.* error (e.g. "ctap.operation_denied", "ctap.credential_excluded"); then "ctap.invalid"
 * (with a detail, never the bytes) unless the rpIdHash is SHA-256(rp_id), the user was present, the
 * answer carries attested credential data with a non-empty credential ID and a valid key of `alg`
 * (a P-256 point on the curve, or a 32-byte Ed25519 key; another algorithm is
 * "ctap.unsupported_algorithm"). The attestation is read, not verified. *out: hg_credential_free.
 */
int hg_ctap_read_credential(const uint8_t *response, size_t response_len, const char *rp_id, int32_t alg,
                            hg_credential **out, hg_error *err);
void hg_credential_free(hg_credential **c);
/* Byte accessors: *data (owned by the object; NULL when empty) and *len. */
void hg_credential_id(const hg_credential *c, const uint8_t **data, size_t *len);
/* The public key: the 65-byte uncompressed P-256 point (0x04 || x || y) or the 32-byte Ed25519 key. */
void hg_credential_public_key(const hg_credential *c, const uint8_t **data, size_t *len);
/* The same key as a canonical COSE_Key (CBOR), what hg_assertion_verify_cose takes. */
void hg_credential_cose_key(const hg_credential *c, const uint8_t **data, size_t *len);
void hg_credential_auth_data(const hg_credential *c, const uint8_t **data, size_t *len);
/* attStmt's "sig" and "x5c"[0] (empty for the "none" format). */
void hg_credential_attestation_signature(const hg_credential *c, const uint8_t **data, size_t *len);
void hg_credential_attestation_certificate(const hg_credential *c, const uint8_t **data, size_t *len);
int32_t hg_credential_algorithm(const hg_credential *c);
uint8_t hg_credential_flags(const hg_credential *c);
uint32_t hg_credential_sign_count(const hg_credential *c);

/*
 * The phone's getAssertion or getNextAssertion answer, decoded and checked: a non-zero status is its
 * ctap.* error ("ctap.no_credentials", "ctap.operation_denied", ...); then "ctap.invalid" unless the
 * rpIdHash is SHA-256(rp_id), the signature is not empty, and the credential is one of `allow`
 * (the answer may leave it out when allow has exactly one) or, with no allow list, named. User
 * presence and verification are NOT required here (read hg_assertion_flags: OpenSSH may ask
 * without presence); the signature is checked by hg_assertion_verify / _verify_cose.
 */
int hg_ctap_read_assertion(const uint8_t *response, size_t response_len, const char *rp_id, const hg_id_list *allow,
                           hg_assertion **out, hg_error *err);
void hg_assertion_free(hg_assertion **a);
void hg_assertion_credential_id(const hg_assertion *a, const uint8_t **data, size_t *len);
/* The index into the allow list of the credential that answered (0 with no allow list). */
size_t hg_assertion_allow_index(const hg_assertion *a);
void hg_assertion_auth_data(const hg_assertion *a, const uint8_t **data, size_t *len);
/* As the phone sent it: DER for ES256, 64 bytes for EdDSA. */
void hg_assertion_signature(const hg_assertion *a, const uint8_t **data, size_t *len);
/* The user handle (empty when the phone sent none). */
void hg_assertion_user_id(const hg_assertion *a, const uint8_t **data, size_t *len);
uint8_t hg_assertion_flags(const hg_assertion *a);
uint32_t hg_assertion_sign_count(const hg_assertion *a);
/* numberOfCredentials of a first answer without an allow list (1 .. 64; 1 when absent). */
size_t hg_assertion_count(const hg_assertion *a);

/*
 * Verifies the assertion's signature over authData || client_data_hash (32 bytes) with a public
 * key: `alg` and the key in hg_credential_public_key's form, or a COSE_Key (ES256 or EdDSA).
 * HG_OK when it verifies; "ctap.invalid" when it does not; "invalid_argument" for a key of the wrong
 * form.
 */
int hg_assertion_verify(const hg_assertion *a, const uint8_t *client_data_hash, int32_t alg,
                        const uint8_t *public_key, size_t public_key_len, hg_error *err);
int hg_assertion_verify_cose(const hg_assertion *a, const uint8_t *client_data_hash, const uint8_t *cose_key,
                             size_t cose_key_len, hg_error *err);

/* Whether a getInfo (hg_connection_get_info) lists COSE algorithm `alg`: 1 or 0. A getInfo without
 * the list, or one that cannot be read, offers ES256 only. */
int hg_ctap_info_offers(const uint8_t *info, size_t info_len, int32_t alg);

/* The same through an open connection: the request built, transacted and the answer read and
 * checked, in one call (the arguments as above). HG_ERR with a ctap.* code for the phone's refusal,
 * a tunnel.* / session.* code when the connection failed. */
int hg_connection_make_credential(hg_connection *c, const char *rp_id, const char *rp_name,
                                  const uint8_t *client_data_hash, const uint8_t *user_id, size_t user_id_len,
                                  const char *user_name, const char *display_name, int32_t alg,
                                  const hg_id_list *exclude, unsigned flags, hg_credential **out, hg_error *err);
int hg_connection_get_assertion(hg_connection *c, const char *rp_id, const uint8_t *client_data_hash,
                                const hg_id_list *allow, unsigned flags, hg_assertion **out, hg_error *err);
int hg_connection_get_next_assertion(hg_connection *c, const char *rp_id, hg_assertion **out, hg_error *err);

/* ---------------------------------------------------------------------------------------------
 * Files that hold secrets or passkeys (a PAM module's authfile): read with ownership and mode
 * checks, replaced atomically under a lock, mode 0600
 * ------------------------------------------------------------------------------------------- */

/*
 * Reads `path` into *text (hg_free; NUL-terminated) and *len. A missing file is HG_OK with
 * *text = NULL. Refused: a symlink or non-regular file ("store.corrupt"), a file that group or
 * others can access, or not owned by `owner_uid` or root ("store.permissions"). owner_uid -1 = the
 * effective user.
 */
int hg_private_file_read(const char *path, long owner_uid, char **text, size_t *len, hg_error *err);

/*
 * Changes `path` under its lock (PATH.lock): `change` gets the current text (NULL when the file does
 * not exist) and returns HG_OK with *next = the new text (malloc'd, the library frees it; NULL =
 * leave the file as it is) or HG_ERR with err filled (then nothing is written and that error is
 * returned). The new text replaces the file atomically, mode 0600. owner_uid as for
 * hg_private_file_read.
 */
typedef int hg_file_change_cb(void *user, const char *current, size_t current_len, char **next, hg_error *err);
int hg_private_file_update(const char *path, long owner_uid, hg_file_change_cb *change, void *user, hg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HYBRIDGATE_H */
