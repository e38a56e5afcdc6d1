import { describe, expect, it } from 'vitest';
import { commandGroups } from '../../../src/cli/groups.js';

describe('the CLI command groups', () => {
  it('are keyed by the group their commands name', async () => {
    for (const [name, load] of Object.entries(commandGroups)) {
      const commands = await load();
      expect(commands.length, name).toBeGreaterThan(0);
      expect(new Set(commands.map((c) => c.group)), name).toEqual(new Set([name]));
    }
  });
});
