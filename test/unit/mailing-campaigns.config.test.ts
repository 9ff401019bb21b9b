import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from '@jest/globals';
import { classifyQueryError } from '../../activities/mailing-campaigns/campaign-export';
import { campaignCopySql, toCharPattern } from '../../activities/mailing-campaigns/campaign-sql';
import { isActive, planMailingRun } from '../../activities/mailing-campaigns/plan-mailing-run';
import { loadCampaigns } from '../../activities/mailing-campaigns/load-campaigns';
import { describeSlot, floorToHour, formatFileName } from '../../activities/mailing-campaigns/slot';
import { writeCampaigns } from '../helpers/mailing-campaigns';

const TZ = 'America/Sao_Paulo';
const base = { columns: [{ source: 'phone', header: 'TELEFONE', format: 'phone' }], sql: 'SELECT phone FROM partner_customers' };

describe('campaign files are checked at load', () => {
  const dirs: string[] = [];
  const load = (campaigns: Parameters<typeof writeCampaigns>[0]) => {
    const dir = writeCampaigns(campaigns, mkdtempSync(path.join(os.tmpdir(), 'campaigns-')));
    dirs.push(dir);
    return loadCampaigns(dir);
  };
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('a valid campaign gets its defaults: ; UTF8 header, Mon-Sat 08-20, the standard file name', () => {
    const { campaigns, invalid } = load([{ name: 'ok', sftpFolder: '/dialer/ok', ...base }]);
    assert.deepEqual(invalid, []);
    const [c] = campaigns;
    assert.deepEqual([c.separator, c.encoding, c.header, c.fileName, c.activeHours, c.activeDays.length, c.emptyResult],
      [';', 'UTF8', true, 'mailing_{campaign}_{dd-MM}_{HH-mm}.csv', { from: 8, to: 20 }, 6, 'send-empty-file']);
    assert.equal(c.sql, 'SELECT phone FROM partner_customers');
  });

  const rejected: [string, Record<string, unknown>, RegExp][] = [
    ['a folder climbing out with ..', { sftpFolder: '/dialer/../../etc' }, /sftpFolder: must be a plain folder path/],
    ['a relative climb', { sftpFolder: '../outside' }, /sftpFolder: must be a plain folder path/],
    ['a Windows path', { sftpFolder: '\\\\server\\share' }, /sftpFolder: must not contain backslashes/],
    ['a NUL byte in the folder', { sftpFolder: '/dialer/x\u0000y' }, /sftpFolder: must not contain backslashes or control characters/],
    ['a slash in the file name', { fileName: '../mailing_{campaign}_{dd-MM}_{HH-mm}.csv' }, /fileName: may hold only letters/],
    ['an unknown placeholder', { fileName: 'mailing_{campaign}_{dd-MM}_{HH-mm}_{user}.csv' }, /fileName: placeholders are \{campaign\}/],
    ['a name without the hour', { fileName: 'mailing_{campaign}_{dd-MM}.csv' }, /fileName: must hold the day and the hour/],
    ['a hidden file name', { fileName: '.mailing_{dd-MM}_{HH-mm}.csv' }, /fileName: must not start with "."/],
    ['a SQL file outside sql/', { sqlFile: '../../etc/passwd.sql' }, /sqlFile: must be a file name like cobranca.sql/],
    ['an unknown field (a typo)', { seperator: ',' }, /unknown field "seperator"/],
    ['a letter as separator', { separator: 'x' }, /separator: must be one character like ; , \| or a tab/],
    ['an unknown encoding', { encoding: 'EBCDIC' }, /encoding: must be UTF8, LATIN1 or WIN1252/],
    ['hours the wrong way round', { activeHours: { from: 20, to: 8 } }, /activeHours: from must not be after to/],
  ];
  for (const [what, change, message] of rejected) {
    it(`rejects ${what}, naming the file and the field`, () => {
      const { campaigns, invalid } = load([{ name: 'bad', sftpFolder: '/dialer/bad', ...base, ...change }]);
      assert.equal(campaigns.length, 0);
      assert.equal(invalid[0].campaign, 'bad');
      assert.match(invalid[0].error, /^campaigns-\w+\/bad\.json[.:]/);
      assert.match(invalid[0].error, message);
    });
  }

  it('rejects a campaign name that tries path traversal, and a name that is not its file\'s', () => {
    const dir = writeCampaigns([{ name: 'ok', sftpFolder: '/dialer/ok', ...base }], mkdtempSync(path.join(os.tmpdir(), 'campaigns-')));
    dirs.push(dir);
    const write = (file: string, name: string) =>
      writeFileSync(path.join(dir, file), JSON.stringify({ name, sqlFile: 'ok.sql', sftpFolder: '/dialer/x', columns: base.columns }));
    write('evil.json', '../../etc');
    write('upper.json', 'Cobranca');
    write('renamed.json', 'ok');
    const { campaigns, invalid } = loadCampaigns(dir);
    assert.deepEqual(campaigns.map((c) => c.name), ['ok']);
    const errors = Object.fromEntries(invalid.map((c) => [c.campaign, c.error]));
    assert.match(errors.evil, /evil\.json\.name: must be a slug/);
    assert.match(errors.upper, /upper\.json\.name: must be a slug/);
    assert.match(errors.renamed, /renamed\.json\.name: "ok" must match its file name \(renamed\.json\)/);
  });

  it('one bad file does not hide the good ones', () => {
    const { campaigns, invalid } = load([
      { name: 'good', sftpFolder: '/dialer/good', ...base },
      { name: 'bad', sftpFolder: '/dialer/../bad', ...base },
    ]);
    assert.deepEqual(campaigns.map((c) => c.name), ['good']);
    assert.deepEqual(invalid.map((c) => c.campaign), ['bad']);
  });
});

describe('slots and file names', () => {
  it('a run that starts late still names the hour of its slot, in São Paulo time', () => {
    const late = new Date('2025-12-22T13:37:41.250Z'); // 10:37:41 in São Paulo
    const slot = floorToHour(late, TZ);
    assert.equal(slot.toISOString(), '2025-12-22T13:00:00.000Z');
    assert.equal(describeSlot(slot, TZ), '2025-12-22 10:00 America/Sao_Paulo');
    assert.equal(formatFileName('mailing_{campaign}_{dd-MM}_{HH-mm}.csv', 'campanha', slot, TZ), 'mailing_campanha_22-12_10-00.csv');
    assert.equal(formatFileName('{campaign}_{yyyyMMdd}_{HHmm}.csv', 'x', slot, TZ), 'x_20251222_1000.csv');
    // Midnight UTC is still the previous day in São Paulo.
    assert.equal(formatFileName('{dd-MM}_{HH-mm}', 'x', new Date('2025-12-23T00:10:00Z'), TZ), '22-12_21-10');
  });

  it('a campaign is active on its days and hours only', () => {
    const campaign = { activeDays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], activeHours: { from: 8, to: 20 } } as never;
    assert.equal(isActive(campaign, new Date('2025-03-10T08:00:00-03:00'), TZ), true); // Monday 08:00
    assert.equal(isActive(campaign, new Date('2025-03-10T20:00:00-03:00'), TZ), true);
    assert.equal(isActive(campaign, new Date('2025-03-10T21:00:00-03:00'), TZ), false);
    assert.equal(isActive(campaign, new Date('2025-03-10T07:00:00-03:00'), TZ), false);
    assert.equal(isActive(campaign, new Date('2025-03-16T10:00:00-03:00'), TZ), false); // Sunday
  });

  it('the plan delivers campaigns active in the slot; named ones whatever the hour; two campaigns never share a file', () => {
    const dir = writeCampaigns([
      { name: 'day', sftpFolder: '/d', ...base },
      { name: 'office', sftpFolder: '/o', ...base, activeDays: ['mon', 'tue', 'wed', 'thu', 'fri'], activeHours: { from: 9, to: 18 } },
      { name: 'same_a', sftpFolder: '/s', ...base, fileName: 'mailing_{dd-MM}_{HH-mm}.csv' },
      { name: 'same_b', sftpFolder: '/s', ...base, fileName: 'mailing_{dd-MM}_{HH-mm}.csv' },
    ], mkdtempSync(path.join(os.tmpdir(), 'campaigns-')));
    try {
      const saturday = planMailingRun({ campaignsDir: dir, timeZone: TZ }, { time: '2025-03-15T10:20:00-03:00', slotSource: 'schedule' });
      assert.deepEqual(saturday.deliveries.map((d) => d.campaign.name), ['day', 'same_a']);
      assert.deepEqual(saturday.invalid.map((c) => c.campaign), ['same_b']);
      assert.equal(saturday.slotLabel, '2025-03-15 10:00 America/Sao_Paulo');
      const sunday = planMailingRun({ campaignsDir: dir, timeZone: TZ }, { campaigns: ['office'], time: '2025-03-16T23:59:00-03:00', slotSource: 'input' });
      assert.deepEqual(sunday.deliveries.map((d) => d.remotePath), ['/o/mailing_office_16-03_23-00.csv']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const campaign: Parameters<typeof campaignCopySql>[0] = {
  name: 'x', sqlFile: 'x.sql', sql: 'SELECT 1 -- trailing comment', statementTimeoutSeconds: 1, separator: '|', encoding: 'WIN1252',
  header: false, quoteAll: true, lineEnding: 'LF', sftpFolder: '/x', fileName: 'f_{dd}_{HH}', activeDays: ['mon'], activeHours: { from: 8, to: 20 },
  emptyResult: 'send-nothing', columns: [{ source: 'debt', header: 'VALOR "R$"', format: 'number', decimals: 2, decimalSeparator: ',' }],
};

describe('the dialer layout as SQL', () => {
  it('formats phones, dates and numbers in Postgres and writes CSV with the campaign\'s options', () => {
    assert.equal(toCharPattern('dd/MM/yyyy HH:mm'), 'DD/MM/YYYY HH24:MI');
    const sql = campaignCopySql(campaign);
    assert.match(sql, /replace\(round\(campaign\."debt"::numeric, 2\)::text, '\.', ','\) AS "VALOR ""R\$"""/);
    assert.match(sql, /SELECT 1 -- trailing comment\n\) AS campaign\)/);
    assert.match(sql, /WITH \(FORMAT csv, DELIMITER '\|', HEADER false, ENCODING 'WIN1252', FORCE_QUOTE \*\)$/);
  });
});

describe('a failed export keeps its cause', () => {
  it('an SFTP failure met while the query streams (a numeric status code) is passed on as it is, not read as a query error', () => {
    const sftpFailure = Object.assign(new Error('_write: Failure /x/.f_02_10.part-1'), { code: 4 });
    assert.equal(classifyQueryError(sftpFailure, campaign), sftpFailure);
  });
});
