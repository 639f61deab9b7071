// Which copies a hello may keep (core/scheduler/resume.ts): only its own, in flight, of a running job it may compute for,
// in the class it was assigned to. Each refusal says why; a copy not the claimant's reads the same whether it exists.
import { describe, expect, it } from 'vitest';
import type { Copy, Job, Shard } from '../../../server/core/jobs/types.ts';
import { type Claimant, type ClaimedCopyFacts, resumeRefusal } from '../../../server/core/scheduler/resume.ts';

const NOW = 1_000_000;
const who: Claimant = { id: 'vol-aaaaaa', numericClass: 'wasm/ort-1', groups: new Set() };
const copy = (o: Partial<Copy> = {}): Copy => ({
  id: 'copy-111111', shardId: 'shard-1', jobId: 'job-111111', volunteerId: who.id, account: `volunteer:${who.id}`, wallet: null,
  address: '127.0.0.0', numericClass: who.numericClass, state: 'running', outcome: 'pending', assignedAt: NOW - 5000,
  deadline: NOW + 15_000, returnedAt: null, reason: null, credit: 0, ...o,
});
const facts = (o: Partial<ClaimedCopyFacts> & { copy?: Copy | null } = {}): ClaimedCopyFacts => ({
  copy: copy(),
  job: { id: 'job-111111', projectId: 'proj-public', state: 'running' } as Job,
  shard: { id: 'shard-1', state: 'open' } as Shard,
  project: { id: 'proj-public', private: false },
  tooLate: null,
  ...o,
});

describe('resuming the copies a hello says it holds', () => {
  it('keeps a copy in flight with its volunteer, assigned or acknowledged, whose lease has not run out', () => {
    expect(resumeRefusal('copy-111111', who, facts(), NOW)).toBeNull();
    expect(resumeRefusal('copy-111111', who, facts({ copy: copy({ state: 'assigned', deadline: NOW + 1 }) }), NOW)).toBeNull();
  });

  it('refuses another volunteer\'s copy in the same words as one that does not exist', () => {
    const foreign = resumeRefusal('copy-111111', who, facts({ copy: copy({ volunteerId: 'vol-bbbbbb' }) }), NOW);
    expect(foreign).toBe('copy copy-111111 is not assigned to you');
    expect(resumeRefusal('copy-111111', who, facts({ copy: null }), NOW)).toBe(foreign);
  });

  it('refuses a copy that ended or ran out its lease: a claim revives nothing', () => {
    expect(resumeRefusal('copy-111111', who, facts({ copy: copy({ state: 'expired', reason: 'lease expired without heartbeat or result' }) }), NOW))
      .toBe('copy copy-111111 is expired (lease expired without heartbeat or result): it is no longer held for you');
    expect(resumeRefusal('copy-111111', who, facts({ copy: copy({ state: 'cancelled' }) }), NOW)).toBe('copy copy-111111 is cancelled: it is no longer held for you');
    expect(resumeRefusal('copy-111111', who, facts({ copy: copy({ state: 'returned' }) }), NOW)).toBe('copy copy-111111 was returned already: its result is in');
    expect(resumeRefusal('copy-111111', who, facts({ copy: copy({ deadline: NOW - 3000 }) }), NOW))
      .toBe('copy copy-111111 ran out its lease 3 s ago: it is no longer held for you');
    expect(resumeRefusal('copy-111111', who, facts({ copy: copy({ deadline: NOW }) }), NOW)).toMatch(/ran out its lease 0 s ago/);
  });

  it('refuses a copy of a job that ended, or whose training round closed', () => {
    expect(resumeRefusal('copy-111111', who, facts({ job: { id: 'job-111111', projectId: 'proj-public', state: 'cancelled' } as Job }), NOW))
      .toBe('copy copy-111111 is of a job that has ended (cancelled)');
    expect(resumeRefusal('copy-111111', who, facts({ job: null }), NOW)).toBe('copy copy-111111 is of a job that has ended');
    expect(resumeRefusal('copy-111111', who, facts({ tooLate: 'arrived after its training round closed' }), NOW))
      .toBe('copy copy-111111 arrived after its training round closed; it is no longer needed');
  });

  it('refuses a copy of a project this connection does not compute for', () => {
    expect(resumeRefusal('copy-111111', { ...who, projectId: 'proj-embed' }, facts(), NOW))
      .toBe('copy copy-111111 is of another project than the one this connection computes for (proj-embed)');
    const secret = { project: { id: 'proj-secret', private: true }, job: { id: 'job-111111', projectId: 'proj-secret', state: 'running' } as Job };
    expect(resumeRefusal('copy-111111', who, facts(secret), NOW)).toBe('copy copy-111111 is of a private project whose group you are not in');
    expect(resumeRefusal('copy-111111', { ...who, groups: new Set(['proj-secret']) }, facts(secret), NOW)).toBeNull();
  });

  it('refuses a copy announced in another numeric class than it was assigned to', () => {
    expect(resumeRefusal('copy-111111', { ...who, numericClass: 'webgpu/x/y/ort-1' }, facts(), NOW))
      .toBe('copy copy-111111 was assigned to numeric class wasm/ort-1, and this hello announces webgpu/x/y/ort-1');
  });
});
