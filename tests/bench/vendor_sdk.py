"""The vendor's Python SDK (passbyme2fa-client, from PyPI) doing what
`passbyme send --to ID --wait` does: send one authorization message, then track it every
0.5 s until every recipient's status is final. Run by tests/bench/login.rs as a new process,
timed from spawn to exit, against the emulator.

Usage: vendor_sdk.py ADDRESS CA_PEM CLIENT_PEM PASSWORD_FILE RECIPIENT_ID

The SDK is used as shipped. Its constructor builds an ssl.SSLContext that trusts only the
truststore.pem inside the package (the vendor's CAs) and has no parameter for another CA; the
emulator's CA is added to that same context (the HTTPSConnection's `_context`) before the first
request, which is what pointing its trust store at the emulator's CA amounts to. The client
certificate and its encrypted PKCS#8 key (PBES2, PBKDF2-HMAC-SHA1, DES-EDE3-CBC, as the
vendor issues them) are given exactly as the SDK documents: the PEM file for `cert` and `key`
and the password. Exit 0 when a recipient approved.
"""
import sys
import time

from passbyme2fa_client import PassByME2FAClient

FINAL = {"NOT_SEEN", "NOT_NOTIFIED", "NOT_DOWNLOADED", "NO_DEVICE", "FAILED", "DISABLED",
         "CANCELLED", "APPROVED", "DENIED"}


def main():
    address, ca, pem, password_file, recipient = sys.argv[1:6]
    with open(password_file) as f:
        password = f.read().rstrip("\n")
    client = PassByME2FAClient(address=address, key=pem, cert=pem, password=password)
    client.http._context.load_verify_locations(cafile=ca)
    session = client.send_message(recipients=[recipient], subject="bench", body="bench",
                                  availability=300, type="authorization")
    while not all(r.status in FINAL for r in session.recipient_statuses):
        time.sleep(0.5)
        session.refresh()
    for r in session.recipient_statuses:
        print(r.user_id, r.status)
    sys.exit(0 if any(r.status == "APPROVED" for r in session.recipient_statuses) else 1)


if __name__ == "__main__":
    main()
