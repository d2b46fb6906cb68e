import { Readable } from 'node:stream';
import { checkArtifactName } from '../core/artifact-name.ts';
import { checkContentType } from '../core/content-type.ts';
import type { NewArtifact } from './store.ts';

/**
 * Checks an artifact's name and content type before anything is written (a ValidationError
 * otherwise), letting go of its body when refused: both stores call it first.
 */
export function checkArtifact(artifact: NewArtifact): { name: string; contentType: string } {
  try {
    return { name: checkArtifactName(artifact.name), contentType: checkContentType(artifact.contentType) };
  } catch (error) {
    discardBody(artifact.body);
    throw error;
  }
}

/**
 * Lets go of an artifact body that will not be read: a stream is closed, so that a file it reads
 * is not left open, and an error it still raises (a file that never opened: a destroyed
 * `createReadStream` of a missing path reports ENOENT afterwards) is dropped, not left uncaught.
 */
export function discardBody(body: Uint8Array | Readable): void {
  // Bytes, or no stream at all from an untyped caller: nothing to let go of.
  if (!(body instanceof Readable)) return;
  body.on('error', () => {});
  body.destroy();
}
