import { Readable } from 'node:stream';
import type { Pool } from 'pg';
import type { ArtifactInfo } from '../../core/job.ts';
import { checkArtifact, discardBody } from '../artifact-input.ts';
import type { NewArtifact } from '../store.ts';
import { toArtifactInfo } from './rows.ts';
import type { Tables } from './tables.ts';

/**
 * Rows of 1 MiB: a 2 GiB backup is 2,048 inserts, none holding a transaction open, and neither
 * writing nor reading needs more than one chunk in memory. (PostgreSQL caps a bytea at 1 GiB.)
 */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * Stores an artifact in the database, readable from every machine: a new, incomplete row; its
 * chunks one insert each; then, in one statement, the old artifact of that name is dropped and
 * the new one marked complete, so readers see the old file or the new one, never half.
 *
 * With a lease token both ends are fenced, in the statements that run anyway (no extra round
 * trip): the first insert happens only while the job runs under that token (a stale attempt
 * uploads nothing), and the last statement replaces the old file only under a share lock on the
 * job's row still held by that token, so a finish or reap commits before it or after it, never
 * in between. Fenced out at the end, the upload is deleted with its chunks. Null then.
 */
export async function saveArtifact(
  pool: Pool,
  t: Tables,
  jobId: string,
  token: string | null,
  artifact: NewArtifact,
): Promise<ArtifactInfo | null> {
  const { name, contentType } = checkArtifact(artifact);
  const held = `SELECT 1 FROM ${t.jobs} WHERE id = $1 AND lease_token = $4 AND status = 'running'`;
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO ${t.artifacts} (job_id, name, content_type)
     SELECT $1, $2, $3 WHERE $4::text IS NULL OR EXISTS (${held})
     RETURNING id`,
    [jobId, name, contentType, token],
  );
  const id = rows[0]?.id;
  if (id === undefined) {
    discardBody(artifact.body);
    return null;
  }
  try {
    let n = 0;
    let size = 0;
    for await (const chunk of chunksOf(artifact.body)) {
      await pool.query(`INSERT INTO ${t.chunks} (artifact_id, n, data) VALUES ($1, $2, $3)`, [id, n++, chunk]);
      size += chunk.byteLength;
    }
    const done = await pool.query<{ name: string; size: string; content_type: string; created_at: Date }>(
      // The count makes the DELETE run first: an unreferenced data-modifying WITH runs after the
      // main statement, and the unique index on complete names would refuse the UPDATE.
      `WITH held AS (${held} FOR SHARE),
       fence AS (SELECT $4::text IS NULL OR EXISTS (SELECT 1 FROM held) AS ok),
       old AS (DELETE FROM ${t.artifacts} WHERE job_id = $1 AND name = $2 AND complete AND (SELECT ok FROM fence) RETURNING id)
       UPDATE ${t.artifacts} SET complete = true, size = $5, created_at = now()
       WHERE id = $3 AND (SELECT ok FROM fence) AND (SELECT count(*) FROM old) >= 0
       RETURNING name, size, content_type, created_at`,
      [jobId, name, id, token, size],
    );
    const row = done.rows[0];
    if (!row) {
      await pool.query(`DELETE FROM ${t.artifacts} WHERE id = $1`, [id]);
      return null;
    }
    return toArtifactInfo({ name: row.name, size: row.size, contentType: row.content_type, createdAt: row.created_at });
  } catch (error) {
    await pool.query(`DELETE FROM ${t.artifacts} WHERE id = $1`, [id]).catch(() => {});
    throw error;
  }
}

/** The artifact's info and a stream that reads its chunks one query at a time, as the reader asks for them. */
export async function openArtifact(
  pool: Pool,
  t: Tables,
  jobId: string,
  name: string,
): Promise<{ info: ArtifactInfo; body: Readable } | null> {
  const { rows } = await pool.query<{ id: string; name: string; size: string; content_type: string; created_at: Date }>(
    `SELECT id, name, size, content_type, created_at FROM ${t.artifacts} WHERE job_id = $1 AND name = $2 AND complete`,
    [jobId, name],
  );
  const row = rows[0];
  if (!row) return null;
  const info = toArtifactInfo({
    name: row.name,
    size: row.size,
    contentType: row.content_type,
    createdAt: row.created_at,
  });
  async function* read(): AsyncGenerator<Buffer> {
    let read = 0;
    for (let n = 0; read < info.size; n++) {
      const chunk = await pool.query<{ data: Buffer }>(
        `SELECT data FROM ${t.chunks} WHERE artifact_id = $1 AND n = $2`,
        [row?.id, n],
      );
      const data = chunk.rows[0]?.data;
      // Replaced or removed while being read: fail the download rather than serve a mix of two files.
      if (!data) throw new Error(`Artifact ${name} of job ${jobId} was replaced or removed while being read.`);
      read += data.byteLength;
      yield data;
    }
  }
  return { info, body: Readable.from(read(), { objectMode: false }) };
}

/** The body cut or gathered into CHUNK_BYTES pieces. */
async function* chunksOf(body: NewArtifact['body']): AsyncGenerator<Buffer> {
  if (body instanceof Uint8Array) {
    for (let at = 0; at < body.byteLength; at += CHUNK_BYTES) {
      yield Buffer.from(body.buffer, body.byteOffset + at, Math.min(CHUNK_BYTES, body.byteLength - at));
    }
    return;
  }
  let parts: Buffer[] = [];
  let held = 0;
  for await (const piece of body) {
    let buffer = typeof piece === 'string' ? Buffer.from(piece) : Buffer.from(piece as Uint8Array);
    while (held + buffer.byteLength >= CHUNK_BYTES) {
      const take = CHUNK_BYTES - held;
      parts.push(buffer.subarray(0, take));
      yield Buffer.concat(parts);
      buffer = buffer.subarray(take);
      parts = [];
      held = 0;
    }
    if (buffer.byteLength > 0) {
      parts.push(buffer);
      held += buffer.byteLength;
    }
  }
  if (held > 0) yield Buffer.concat(parts);
}
