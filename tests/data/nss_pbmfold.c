/* A test NSS module: getpwnam matches /etc/passwd names case-insensitively and answers the
 * entry under its canonical spelling, as SSSD's AD provider does by default. The
 * integration tests build it with cc and load it in a private mount namespace
 * (`passwd: files pbmfold`), to prove the module maps the name NSS knows, not the one typed.
 * Never installed anywhere. */
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum nss_status _nss_pbmfold_getpwnam_r(const char *name, struct passwd *pwd, char *buf,
                                        size_t buflen, int *errnop)
{
    FILE *f = fopen("/etc/passwd", "re");
    if (!f) {
        *errnop = errno;
        return NSS_STATUS_UNAVAIL;
    }
    struct passwd ent, *res;
    char tmp[4096];
    enum nss_status st = NSS_STATUS_NOTFOUND;
    while (fgetpwent_r(f, &ent, tmp, sizeof tmp, &res) == 0) {
        if (strcasecmp(ent.pw_name, name) != 0)
            continue;
        const char *fields[5] = {ent.pw_name, ent.pw_passwd, ent.pw_gecos, ent.pw_dir,
                                 ent.pw_shell};
        char **out[5] = {&pwd->pw_name, &pwd->pw_passwd, &pwd->pw_gecos, &pwd->pw_dir,
                         &pwd->pw_shell};
        size_t need = 0;
        for (int i = 0; i < 5; i++)
            need += strlen(fields[i]) + 1;
        if (need > buflen) {
            *errnop = ERANGE;
            st = NSS_STATUS_TRYAGAIN;
            break;
        }
        char *p = buf;
        for (int i = 0; i < 5; i++) {
            *out[i] = p;
            strcpy(p, fields[i]);
            p += strlen(fields[i]) + 1;
        }
        pwd->pw_uid = ent.pw_uid;
        pwd->pw_gid = ent.pw_gid;
        st = NSS_STATUS_SUCCESS;
        break;
    }
    fclose(f);
    return st;
}
