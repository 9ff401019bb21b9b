// Test campaigns of their own (in a temporary folder), a small partner base on the source, SFTP folders under a
// root of the test's own, and a worker whose mailing activities read that campaign folder.
import type SftpClient from 'ssh2-sftp-client';
import { connectSftp } from '../../lib/io/sftp';
import type { Settings } from '../../lib/config/settings';
import { generatePartnerCustomers, partnersTableSql } from '../../lib/sample-data/mailing-campaigns';
import { startWorkers, type RunningWorkers } from '../../workers';
import { settings, workflowBundle, type TestContext } from './env';

export { writeCampaigns, type CampaignFile } from './mailing-campaigns-files';

export async function seedPartners(ctx: TestContext, table: string, count: number): Promise<void> {
  await ctx.sourceAdmin.query(`DROP TABLE IF EXISTS ${table}; ${partnersTableSql(table)}`);
  await generatePartnerCustomers(ctx.sourceAdmin, { table, count, seed: 7 });
}

export const withCampaigns = (dir: string, sftp: Partial<Settings['sftp']> = {}): Settings =>
  ({ ...settings, sftp: { ...settings.sftp, ...sftp }, mailing: { campaignsDir: dir } });

export function startMailingWorkers(ctx: TestContext, testSettings: Settings): Promise<RunningWorkers> {
  return startWorkers(testSettings, { workflowBundle, taskQueue: ctx.taskQueue, tuning: { shutdownGraceTime: '1s' } });
}

export async function withSftp<T>(work: (sftp: SftpClient) => Promise<T>): Promise<T> {
  const sftp = await connectSftp(settings.sftp);
  try {
    return await work(sftp);
  } finally {
    await sftp.end();
  }
}

export async function makeFolders(folders: string[]): Promise<void> {
  await withSftp(async (sftp) => {
    for (const folder of folders) await sftp.mkdir(folder, true);
  });
}

/** Every file in a folder, hidden temporary uploads included, by name. */
export async function listFolder(folder: string): Promise<string[]> {
  return withSftp(async (sftp) => (await sftp.list(folder)).filter((f) => f.type === '-').map((f) => f.name).sort());
}

export async function readRemote(remotePath: string): Promise<Buffer> {
  return withSftp(async (sftp) => (await sftp.get(remotePath)) as Buffer);
}
