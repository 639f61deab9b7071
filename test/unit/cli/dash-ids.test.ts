import { describe, expect, it } from 'vitest';
import { moveDashIds } from '../../../cli/dash-ids.ts';

const VALUE = new Set(['--server', '--token', '--out', '--format']);
const head = ['node', 'tabgrid', 'status'];
const OLD = '-P7LqkW2v_Yx0aZbC3dEfG';

describe('job ids that begin with a dash', () => {
  it('moves such an id behind --, wherever it stands among the options', () => {
    expect(moveDashIds([...head, OLD], VALUE)).toEqual([...head, '--', OLD]);
    expect(moveDashIds([...head, OLD, '--server', 'http://x'], VALUE)).toEqual([...head, '--server', 'http://x', '--', OLD]);
    expect(moveDashIds([...head, '--server', 'http://x', OLD], VALUE)).toEqual([...head, '--server', 'http://x', '--', OLD]);
  });

  it('leaves option values alone, even one of an id\'s shape', () => {
    const argv = ['node', 'tabgrid', 'results', 'VP7M3cLZGvawr_upHC365k', '--out', OLD];
    expect(moveDashIds(argv, VALUE)).toEqual(argv);
  });

  it('leaves ordinary ids, real options, typos and an explicit -- alone', () => {
    for (const argv of [
      [...head, 'VP7M3cLZGvawr_upHC365k'],
      [...head, '--sever', 'http://x', 'VP7M3cLZGvawr_upHC365k'],
      [...head, '-h'],
      [...head, '-P7LqkW2v_Yx0aZbC3dEf'], // one short of an id: an unknown option, and commander says so
      [...head, '--server', 'http://x', '--', OLD],
    ]) expect(moveDashIds(argv, VALUE)).toEqual(argv);
  });
});
