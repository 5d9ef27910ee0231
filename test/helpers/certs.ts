import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { tempDir } from './temp.ts';

/** A self-signed certificate (its own CA) for `cn`, 127.0.0.1 and localhost, made with openssl. */
export function selfSigned(cn = 'localhost'): { certFile: string; keyFile: string } {
  const dir = tempDir();
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  return { certFile, keyFile };
}
