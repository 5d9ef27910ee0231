// SASL SCRAM-SHA-256 and SCRAM-SHA-512, server side (RFC 5802, RFC 7677), against the credentials
// `tributary passwd` stores (src/auth/scram-credential.ts); one exchange runs one hash H throughout,
// with the user's credential for that hash. Two client messages:
//   client-first  gs2-header n=user,r=cnonce        →  r=cnonce+snonce,s=salt,i=iterations
//   client-final  c=base64(gs2-header),r=nonce,p=proof  →  v=ServerSignature
// The proof is checked as the RFC says: ClientKey = proof XOR HMAC(StoredKey, AuthMessage), and
// H(ClientKey) must equal StoredKey (compared in constant time). A user that is unknown or has no
// credential for this hash gets a made-up salt derived from the mechanism and its name and fails at
// the proof, so the first answer does not tell which usernames exist (nor, by a salt that both
// mechanisms would share, which lack a credential: real credentials have a salt each). Channel
// binding and Kafka's delegation-token extension (tokenauth) are refused. The server nonce is hex:
// printable and never ",".

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { digest, hmac, SCRAM, SCRAM_ITERATIONS_DEFAULT, type ScramCredential, type ScramHash } from '../../../auth/scram-credential.ts';
import type { SaslExchange, SaslStep } from './mechanism.ts';

/** Secret of this process for the made-up salts of unknown users: the same name gets the same salt. */
const FAKE_SALT_KEY = randomBytes(32);
const NONCE_BYTES = 24;
/** printable ASCII except ",", RFC 5802's `printable`. */
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;

export class ScramExchange implements SaslExchange {
  private state: 'first' | 'final' | 'done' = 'first';
  private username = '';
  private credential: ScramCredential | null = null;
  private salt: Buffer = Buffer.alloc(0);
  private iterations = SCRAM_ITERATIONS_DEFAULT;
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';

  /** `credentials`: the users' credentials for `hash`. */
  constructor(
    private readonly hash: ScramHash,
    private readonly credentials: ReadonlyMap<string, ScramCredential>,
  ) {}

  async step(token: Buffer): Promise<SaslStep> {
    const text = token.toString('utf8');
    if (this.state === 'first') return this.first(text);
    if (this.state === 'final') return this.final(text);
    return this.fail('the exchange is over');
  }

  private first(text: string): SaslStep {
    this.state = 'done';
    // gs2-header: "n" (no channel binding) or "y" (client could, thinks the server cannot), then an optional a=authzid.
    const m = /^([ny]),(a=[^,]*)?,(n=([^,]*),r=([^,]*)(?:,.*)?)$/s.exec(text);
    if (m === null) return this.fail(text.startsWith('p=') ? 'channel binding is not supported' : 'client-first-message is malformed');
    const [, , authzid, bare, rawName, cnonce] = m;
    const extensions = bare.split(',').slice(2);
    const username = decodeSaslName(rawName);
    if (username === null || username.length === 0) return this.fail('the username is not a valid saslname');
    this.username = username;
    if (authzid !== undefined && decodeSaslName(authzid.slice(2)) !== username) return this.fail('authorization id differs from the username');
    if (extensions.some((e) => e.startsWith('m=') || e.startsWith('tokenauth='))) return this.fail('unsupported SCRAM extension');
    if (!NONCE.test(cnonce)) return this.fail('the client nonce is not printable');
    this.credential = this.credentials.get(username) ?? null;
    this.salt = this.credential?.salt ?? hmac('sha256', FAKE_SALT_KEY, `${this.hash}\0${username}`).subarray(0, 16);
    this.iterations = this.credential?.iterations ?? SCRAM_ITERATIONS_DEFAULT;
    this.gs2Header = text.slice(0, text.length - bare.length);
    this.clientFirstBare = bare;
    this.nonce = cnonce + randomBytes(NONCE_BYTES).toString('hex');
    this.serverFirst = `r=${this.nonce},s=${this.salt.toString('base64')},i=${this.iterations}`;
    this.state = 'final';
    return { kind: 'challenge', token: Buffer.from(this.serverFirst) };
  }

  private final(text: string): SaslStep {
    this.state = 'done';
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) return this.fail('client-final-message has no proof');
    const withoutProof = text.slice(0, proofAt);
    const attrs = withoutProof.split(',');
    if (attrs[0] !== `c=${Buffer.from(this.gs2Header).toString('base64')}`) return this.fail('channel binding data does not match the gs2 header');
    // RFC 5802 wants the combined nonce echoed exactly, but librdkafka 2.0.2 (Debian 12's kcat and
    // confluent-kafka, measured) sends its client nonce and then the whole combined nonce again;
    // Kafka's broker long accepted that by checking only that the nonce *ends with* its own (newer
    // brokers compare exactly, and librdkafka fixed its side). Accepting it loses nothing: the fresh
    // server nonce is still there, and the proof covers the message as sent.
    if (attrs[1] === undefined || !attrs[1].startsWith('r=') || !attrs[1].endsWith(this.nonce)) return this.fail('the nonce does not end with the server nonce');
    const proof = Buffer.from(text.slice(proofAt + 3), 'base64');
    const { mechanism, userKey, keyBytes } = SCRAM[this.hash];
    if (proof.length !== keyBytes) return this.fail(`the proof is not ${keyBytes} bytes`);
    if (this.credential === null) return this.fail(`unknown username or no ${mechanism} credential (auth.users[].${userKey})`);
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.hash, this.credential.storedKey, authMessage);
    const clientKey = Buffer.alloc(keyBytes);
    for (let i = 0; i < keyBytes; i++) clientKey[i] = proof[i] ^ clientSignature[i];
    if (!timingSafeEqual(digest(this.hash, clientKey), this.credential.storedKey)) return this.fail('wrong password');
    const serverSignature = hmac(this.hash, this.credential.serverKey, authMessage);
    return { kind: 'ok', username: this.username, token: Buffer.from(`v=${serverSignature.toString('base64')}`) };
  }

  private fail(reason: string): SaslStep {
    this.state = 'done';
    return { kind: 'fail', reason, username: this.username || null };
  }
}

/** RFC 5802 saslname: "," is sent as =2C and "=" as =3D; any other "=" makes it invalid. */
function decodeSaslName(raw: string): string | null {
  if (/=(?!2C|3D)/.test(raw)) return null;
  return raw.replaceAll('=2C', ',').replaceAll('=3D', '=');
}
