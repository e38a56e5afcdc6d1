import { describe, expect, it } from 'vitest';
import {
  addIntervals,
  boundLiteral,
  floorToInterval,
  intervalsBetween,
  parsePartitionSuffix,
  partitionSuffix,
  type PartitionInterval,
} from '../../../src/partitions/interval.js';

const d = (s: string): Date => new Date(s);

describe('floorToInterval / addIntervals', () => {
  it('floors in UTC whatever the instant', () => {
    expect(floorToInterval(d('2026-11-30T23:59:59.999Z'), 'month').toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(floorToInterval(d('2026-12-01T00:00:00.000Z'), 'month').toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(floorToInterval(d('2026-11-23T15:00:00+05:00'), 'day').toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(floorToInterval(d('2026-11-23T15:00:00Z'), 'year').toISOString()).toBe('2026-01-01T00:00:00.000Z');
    // Sunday belongs to the ISO week that started on the Monday before.
    expect(floorToInterval(d('2026-11-29T12:00:00Z'), 'week').toISOString()).toBe('2026-11-23T00:00:00.000Z');
  });

  it('rolls over years and month lengths', () => {
    expect(addIntervals(d('2026-12-01T00:00:00Z'), 'month', 1).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(addIntervals(d('2026-01-01T00:00:00Z'), 'month', -1).toISOString()).toBe('2025-12-01T00:00:00.000Z');
    expect(addIntervals(d('2024-02-28T00:00:00Z'), 'day', 1).toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(addIntervals(d('2026-12-28T00:00:00Z'), 'week', 1).toISOString()).toBe('2027-01-04T00:00:00.000Z');
    expect(addIntervals(d('2026-01-01T00:00:00Z'), 'month', -120).toISOString()).toBe('2016-01-01T00:00:00.000Z');
  });
});

describe('intervalsBetween', () => {
  it('is the n that addIntervals adds, either way, for every interval', () => {
    for (const interval of ['day', 'week', 'month', 'year'] as PartitionInterval[]) {
      const from = floorToInterval(d('2024-02-29T12:00:00Z'), interval);
      for (const n of [-400, -53, -1, 0, 1, 12, 19, 1000]) {
        expect(intervalsBetween(from, addIntervals(from, interval, n), interval), `${interval} ${n}`).toBe(n);
      }
    }
    expect(intervalsBetween(d('2025-04-01T00:00:00Z'), d('2026-11-01T00:00:00Z'), 'month')).toBe(19);
  });
});

describe('partitionSuffix / parsePartitionSuffix', () => {
  it('names months, days, ISO weeks and years', () => {
    expect(partitionSuffix(d('2026-01-01T00:00:00Z'), 'month')).toBe('_2026_01');
    expect(partitionSuffix(d('2026-02-03T00:00:00Z'), 'day')).toBe('_2026_02_03');
    expect(partitionSuffix(d('2026-01-01T00:00:00Z'), 'year')).toBe('_2026');
    // 2024-12-30 (Monday) is in ISO week 1 of 2025; 2027-01-01 is in 2026-W53.
    expect(partitionSuffix(d('2024-12-30T00:00:00Z'), 'week')).toBe('_2025_W01');
    expect(partitionSuffix(floorToInterval(d('2027-01-01T00:00:00Z'), 'week'), 'week')).toBe('_2026_W53');
  });

  it('reads back exactly what it writes, for every slot of several years', () => {
    for (const interval of ['day', 'week', 'month', 'year'] as PartitionInterval[]) {
      let s = floorToInterval(d('2019-06-15T00:00:00Z'), interval);
      for (let i = 0; i < 800; i++, s = addIntervals(s, interval, 1)) {
        expect(parsePartitionSuffix(partitionSuffix(s, interval), interval)?.getTime(), `${interval} ${s.toISOString()}`).toBe(s.getTime());
      }
    }
  });

  it('rejects look-alikes', () => {
    for (const [suffix, interval] of [
      ['_2024_13', 'month'],
      ['_2024_00', 'month'],
      ['_2024_1', 'month'],
      ['_backup', 'month'],
      ['_2024_01_x', 'month'],
      ['_2024_02_30', 'day'],
      ['_2025_W53', 'week'],
      ['_2025_W00', 'week'],
      ['_2024_01', 'week'],
      ['_0000', 'year'],
      ['2024_01', 'month'],
    ] as [string, PartitionInterval][]) {
      expect(parsePartitionSuffix(suffix, interval), suffix).toBeUndefined();
    }
    expect(parsePartitionSuffix('_2026_W53', 'week')?.toISOString()).toBe('2026-12-28T00:00:00.000Z');
  });
});

describe('boundLiteral', () => {
  it('writes explicit UTC literals per key type', () => {
    const at = d('2026-11-01T00:00:00Z');
    expect(boundLiteral(at, 'date')).toBe("'2026-11-01'");
    expect(boundLiteral(at, 'timestamp')).toBe("'2026-11-01 00:00:00'");
    expect(boundLiteral(at, 'timestamptz')).toBe("'2026-11-01 00:00:00+00'");
  });
});
