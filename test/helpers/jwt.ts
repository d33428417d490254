// Signs HS256 test JWTs the way an identity provider would (sub, iat, exp in five minutes, any extra claims).

import { SignJWT } from 'jose';

export function signTestJwt(
  secret: string,
  sub: string,
  claims: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({ sub, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(secret));
}
