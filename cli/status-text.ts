/** Human text for job status and job lists (`--json` prints the objects instead). */
import type { JobSummary } from '../shared/protocol/events.ts';

/** What a training job's status adds (GET /jobs/:id): how it trains and in what formats weights travel. */
interface TrainingMode { localSteps?: number; updateFormat?: string; weightsFormat?: string }

export function statusText(s: JobSummary & { records?: number } & TrainingMode): string {
  const lines = [
    `job      ${s.id} (${s.kind})${s.name ? ` ${JSON.stringify(s.name)}` : ''}`,
    ...(s.tags && Object.keys(s.tags).length ? [`labels   ${tagText(s.tags)}`] : []),
    ...(s.priority ? [`priority ${s.priority}`] : []),
    `state    ${s.state}${s.error ? `: ${s.error}` : ''}`,
    `shards   ${s.shards.validated}/${s.shards.total} validated, ${s.shards.failed} failed`,
    `copies   valid ${s.copies.valid}, invalid ${s.copies.invalid}, pending ${s.copies.pending}, expired ${s.copies.expired}, error ${s.copies.error}`,
  ];
  if (s.train) lines.push(`training round ${s.train.round}/${s.train.rounds}, loss ${s.train.loss ?? '-'}, held-out accuracy ${s.train.accuracy ?? '-'}`);
  if (s.localSteps !== undefined) lines.push(`mode     ${modeText(s)}`);
  if (s.backends) lines.push(`backends ${s.backends.join(', ')} only`);
  if (s.waiting) lines.push(`waiting  ${s.waiting.message}`);
  lines.push(`created  ${new Date(s.createdAt).toISOString()}${s.finishedAt ? `, finished ${new Date(s.finishedAt).toISOString()}` : ''}`);
  return `${lines.join('\n')}\n`;
}

/**
 * How a training job trains and in what formats its numbers travel: "synchronous rounds (fp32 gradients up, fp32
 * weights down)", or "local steps 8, changes up in int8, weights down as int8 deltas, full weights in fp16 to a
 * volunteer with no usable version" (a local-steps job sending fp32 changes sends full weights every round).
 */
export function modeText(m: TrainingMode): string {
  if (m.localSteps === 1 && m.updateFormat === 'fp32') return 'synchronous rounds (fp32 gradients up, fp32 weights down)';
  const down = m.updateFormat === 'fp32'
    ? `full weights down in ${m.weightsFormat} every round`
    : `weights down as ${m.updateFormat} deltas, full weights in ${m.weightsFormat} to a volunteer with no usable version`;
  return `local steps ${m.localSteps}, changes up in ${m.updateFormat}, ${down}`;
}

export function jobsTable(jobs: readonly JobSummary[]): string {
  if (jobs.length === 0) return 'no jobs yet\n';
  const rows = jobs.map((j) => [
    j.id, j.name ?? '', j.kind, j.state, `${j.shards.validated}/${j.shards.total}`, new Date(j.createdAt).toISOString(),
    j.tags ? tagText(j.tags) : '', j.waiting ? `waits: ${j.waiting.message}` : j.error ?? '',
  ]);
  const head = ['JOB', 'NAME', 'KIND', 'STATE', 'SHARDS', 'CREATED', 'LABELS', ''];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ').trimEnd();
  return `${[head, ...rows].map(line).join('\n')}\n`;
}

export function tagText(tags: Record<string, string>): string {
  return Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(',');
}
