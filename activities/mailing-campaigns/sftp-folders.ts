import { connectSftp } from '../../lib/io/sftp';
import type { Settings } from '../../lib/config/settings';
import { loadCampaigns } from './load-campaigns';

/**
 * Creates the campaigns' SFTP folders, as the dialer's own set-up would (demo and sample data only: a missing
 * folder is otherwise a campaign failure, since it usually means a wrong path).
 */
export async function createCampaignFolders(settings: Settings): Promise<string[]> {
  const folders = [...new Set(loadCampaigns(settings.mailing.campaignsDir).campaigns.map((c) => c.sftpFolder))];
  const sftp = await connectSftp(settings.sftp);
  try {
    for (const folder of folders) await sftp.mkdir(folder, true);
    return folders;
  } finally {
    await sftp.end();
  }
}
