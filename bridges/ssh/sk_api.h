/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sk_api.h - the security-key middleware interface OpenSSH loads a provider through
 * (SecurityKeyProvider, ssh-keygen -w, ssh-add -S), version 10 (0x000a0000): OpenSSH 8.9 to 9.x,
 * Debian 12's OpenSSH 9.2 among them. Written from the interface's documented behaviour; the
 * struct layouts must match OpenSSH's exactly, since ssh-sk-helper reads and frees them.
 *
 * Everything a provider returns is allocated with malloc (calloc) and freed by OpenSSH.
 */
#ifndef HYBRIDGATE_SK_API_H
#define HYBRIDGATE_SK_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Key flags (enrolment and signing). */
#define SSH_SK_USER_PRESENCE_REQD 0x01     /* a touch / approval for every signature */
#define SSH_SK_USER_VERIFICATION_REQD 0x04 /* -O verify-required: PIN, biometrics, screen lock */
#define SSH_SK_FORCE_OPERATION 0x10        /* overwrite a resident key of the same user */
#define SSH_SK_RESIDENT_KEY 0x20           /* -O resident: a discoverable credential */

/* Key algorithms. */
#define SSH_SK_ECDSA 0x00   /* ecdsa-sk: ECDSA P-256 / SHA-256 (COSE ES256) */
#define SSH_SK_ED25519 0x01 /* ed25519-sk: Ed25519 (COSE EdDSA) */

/* Results other than 0 (success). */
#define SSH_SK_ERR_GENERAL (-1)
#define SSH_SK_ERR_UNSUPPORTED (-2)
#define SSH_SK_ERR_PIN_REQUIRED (-3)
#define SSH_SK_ERR_DEVICE_NOT_FOUND (-4)
#define SSH_SK_ERR_CREDENTIAL_EXISTS (-5)

/* What an enrolment produces (also the key part of a resident key). */
struct sk_enroll_response {
  uint8_t flags;             /* the key's flags (SSH_SK_*), stored in the key file */
  uint8_t *public_key;       /* ECDSA: 65-byte uncompressed point; Ed25519: 32 bytes */
  size_t public_key_len;
  uint8_t *key_handle;       /* the credential ID */
  size_t key_handle_len;
  uint8_t *signature;        /* attestation signature, if any */
  size_t signature_len;
  uint8_t *attestation_cert; /* attestation certificate (DER), if any */
  size_t attestation_cert_len;
  uint8_t *authdata;         /* the authenticator data of the enrolment */
  size_t authdata_len;
};

/* What a signature produces. */
struct sk_sign_response {
  uint8_t flags;    /* authenticator data flags (UP 0x01, UV 0x04) */
  uint32_t counter; /* signature counter */
  uint8_t *sig_r;   /* ECDSA: r, big-endian; Ed25519: the 64-byte signature */
  size_t sig_r_len;
  uint8_t *sig_s;   /* ECDSA: s, big-endian; Ed25519: NULL */
  size_t sig_s_len;
};

/* One resident (discoverable) key found on the authenticator. */
struct sk_resident_key {
  uint32_t alg;                  /* SSH_SK_ECDSA or SSH_SK_ED25519 */
  size_t slot;                   /* index, for messages */
  char *application;             /* e.g. "ssh:" */
  struct sk_enroll_response key; /* public_key and key_handle filled */
  uint8_t flags;                 /* SSH_SK_USER_VERIFICATION_REQD if the key needs it */
  uint8_t *user_id;              /* the user ID it was enrolled with */
  size_t user_id_len;
};

/* Options from OpenSSH, a NULL-terminated array: "device" (ssh-keygen -O device=), "user"
 * (ssh-keygen -O user=). `required` nonzero: fail when the option is not understood. */
struct sk_option {
  char *name;
  char *value;
  uint8_t required;
};

#define SSH_SK_VERSION_MAJOR 0x000a0000
#define SSH_SK_VERSION_MAJOR_MASK 0xffff0000

uint32_t sk_api_version(void);
int sk_enroll(uint32_t alg, const uint8_t *challenge, size_t challenge_len, const char *application, uint8_t flags,
              const char *pin, struct sk_option **options, struct sk_enroll_response **enroll_response);
int sk_sign(uint32_t alg, const uint8_t *data, size_t data_len, const char *application, const uint8_t *key_handle,
            size_t key_handle_len, uint8_t flags, const char *pin, struct sk_option **options,
            struct sk_sign_response **sign_response);
int sk_load_resident_keys(const char *pin, struct sk_option **options, struct sk_resident_key ***rks, size_t *nrks);

#ifdef __cplusplus
}
#endif

#endif /* HYBRIDGATE_SK_API_H */
