/*
 * The stand-in module of `passbyme check` (src/bin/passbyme/check/libpam.rs).
 *
 * While `passbyme check` runs a PAM service's auth stack through the real libpam, every
 * module of the stack is replaced by a copy of this one, so that libpam itself (its parser,
 * its includes and substacks, its dispatcher) decides what the stack does, and the check
 * only chooses what each module returns. It is embedded in the `passbyme` binary and only
 * ever written into the check's private 0700 directory, for the life of one check: no
 * pam.d line on the host can name it.
 *
 * The check and the copies speak through the transaction's PAM environment, which nothing
 * else reads while it runs:
 *   PBMCK_N        how many modules ran so far in this pam_authenticate (the copy counts)
 *   PBMCK_P<i>     the code invocation i returns (the check's plan), else
 *   PBMCK_D<id>    the code module copy <id> returns when the plan says nothing
 *   PBMCK_T<i>     written by the copy: "<id> <code>" (what ran, and what it returned)
 *   PBMCK_A<i>     written by the copy: its arguments as libpam split them, each followed
 *                  by a 0x1f byte
 * Each copy's <id> is the six digits after PBM_STANDIN_MARK, written into the copy's bytes
 * by the check. An invocation the check gave no code (no plan entry and no default) returns
 * PAM_SYSTEM_ERR, and the check sees that in the trace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pam_handle pam_handle_t;
extern const char *pam_getenv(pam_handle_t *pamh, const char *name);
extern int pam_putenv(pam_handle_t *pamh, const char *name_value);

#define PAM_SUCCESS 0
#define PAM_SYSTEM_ERR 4
#define PAM_BUF_ERR 5

/* The marker and the id the check patches; volatile so the compiler keeps the bytes. */
static volatile const char id_text[] = "PBM_STANDIN_MARK:000000";
#define ID_OFFSET 17

static int read_int(pam_handle_t *pamh, const char *name, int *out)
{
    const char *v = pam_getenv(pamh, name);
    char *end;
    long n;
    if (v == NULL || *v == '\0')
        return 0;
    n = strtol(v, &end, 10);
    if (*end != '\0' || n < 0 || n > 1000000)
        return 0;
    *out = (int)n;
    return 1;
}

int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    char name[64], id[7], *line;
    int n = 0, code, i;
    size_t len = 32;
    (void)flags;
    for (i = 0; i < 6; i++)
        id[i] = id_text[ID_OFFSET + i];
    id[6] = '\0';

    read_int(pamh, "PBMCK_N", &n);
    snprintf(name, sizeof name, "PBMCK_N=%d", n + 1);
    if (pam_putenv(pamh, name) != PAM_SUCCESS)
        return PAM_BUF_ERR;

    snprintf(name, sizeof name, "PBMCK_P%d", n);
    if (!read_int(pamh, name, &code)) {
        snprintf(name, sizeof name, "PBMCK_D%s", id);
        if (!read_int(pamh, name, &code))
            code = PAM_SYSTEM_ERR;
    }

    snprintf(name, sizeof name, "PBMCK_T%d=%s %d", n, id, code);
    if (pam_putenv(pamh, name) != PAM_SUCCESS)
        return PAM_BUF_ERR;

    for (i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    line = malloc(len);
    if (line == NULL)
        return PAM_BUF_ERR;
    snprintf(line, len, "PBMCK_A%d=", n);
    for (i = 0; i < argc; i++) {
        size_t at = strlen(line);
        snprintf(line + at, len - at, "%s\x1f", argv[i]);
    }
    i = pam_putenv(pamh, line);
    free(line);
    if (i != PAM_SUCCESS)
        return PAM_BUF_ERR;
    return code;
}

int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_SUCCESS;
}
