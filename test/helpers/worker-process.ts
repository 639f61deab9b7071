/** A real `tabgrid worker --node` process, as a volunteer's machine runs it, for tests that want one beside their clients. */
import { spawn } from 'node:child_process';
import { CLI, REPO } from './coordinator.ts';

/**
 * Starts `tabgrid worker --node <node> --server <server>` (with `--operator-token` for one of the operator's own
 * hosts); stop() ends it (SIGTERM) and resolves once it has exited.
 */
export function startWorker(server: string, o: { node?: number; operatorToken?: string } = {}): { stop(): Promise<void> } {
  const args = [CLI, 'worker', '--node', String(o.node ?? 1), '--server', server, ...(o.operatorToken ? ['--operator-token', o.operatorToken] : [])];
  const p = spawn(process.execPath, args, { cwd: REPO, stdio: 'ignore' });
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  return {
    async stop() {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      await exited;
    },
  };
}
