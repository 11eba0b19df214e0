"""Verifies one of our compact JWS as a relying party would, with joserfc (an
independent JOSE implementation), and prints its payload.

Reads {"jwks": {"keys": [...]}, "jws": "<compact JWS>"} on stdin. Picks the
key whose `kid` the JWS header names, allows the EdDSA algorithm alone, and on
success prints the payload exactly as signed (a JSON object) on stdout. Exits
1, naming the problem, on any failure.
"""

import json
import sys
import warnings

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

# RFC 9864 deprecates the polymorphic "EdDSA" in favour of "Ed25519"; with an
# Ed25519 key the two are the same signature, and "EdDSA" is what every
# verifier (jsonwebtoken included) still knows. joserfc warns: not a failure.
warnings.filterwarnings("ignore", category=SecurityWarning)


class Refused(Exception):
    pass


def verify(jwks: dict, token: str) -> bytes:
    header = jws.extract_compact(token.encode("ascii")).headers()
    if header.get("alg") != "EdDSA":
        raise Refused(f"alg {header.get('alg')!r} is not EdDSA")
    kid = header.get("kid")
    matching = [k for k in jwks.get("keys", []) if k.get("kid") == kid]
    if len(matching) != 1:
        raise Refused(f"no single key with kid {kid!r} in the JWKS")
    jwk = matching[0]
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" in jwk:
        raise Refused(f"key {kid!r} is not a public Ed25519 key")
    key = OKPKey.import_key(jwk)
    # Raises BadSignatureError unless the signature over part1.part2 holds.
    verified = jws.deserialize_compact(token, key, algorithms=["EdDSA"])
    payload = verified.payload
    if not isinstance(json.loads(payload), dict):
        raise Refused("the payload is not a JSON object")
    return payload


def main() -> int:
    try:
        request = json.load(sys.stdin)
        payload = verify(request["jwks"], request["jws"])
    except (JoseError, Refused, ValueError, KeyError, TypeError) as err:
        print(f"refused: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(payload.decode("utf-8") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
