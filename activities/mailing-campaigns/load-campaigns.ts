import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describeIssues } from '../../lib/workflow/validation';
import { campaignSchema, type Campaign } from '../../lib/contracts/mailing-campaign-file';

export { DEFAULT_CAMPAIGNS_DIR } from '../../lib/config/settings';

export interface LoadedCampaigns {
  campaigns: Campaign[];
  /** Files that did not validate, by the campaign name their file gives; one bad file never hides the others. */
  invalid: { campaign: string; file: string; error: string }[];
}

/** Reads `<dir>/*.json` (one campaign each) and their queries in `<dir>/sql/`, validating every field. */
export function loadCampaigns(dir: string): LoadedCampaigns {
  if (!existsSync(dir)) throw new Error(`the campaigns folder ${dir} does not exist (MAILING_CAMPAIGNS_DIR)`);
  const result: LoadedCampaigns = { campaigns: [], invalid: [] };
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const campaign = file.replace(/\.json$/, '');
    try {
      result.campaigns.push(loadCampaign(dir, file));
    } catch (error) {
      result.invalid.push({ campaign, file: path.join(dir, file), error: (error as Error).message });
    }
  }
  return result;
}

function loadCampaign(dir: string, file: string): Campaign {
  const where = path.join(path.basename(dir), file);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  } catch (error) {
    throw new Error(`${where}: not valid JSON: ${(error as Error).message}`);
  }
  const parsed = campaignSchema.safeParse(json);
  if (!parsed.success) throw new Error(describeIssues(where, parsed.error));
  const config = parsed.data;
  if (`${config.name}.json` !== file) throw new Error(`${where}.name: "${config.name}" must match its file name (${file})`);
  const sqlPath = path.join(dir, 'sql', config.sqlFile);
  if (!existsSync(sqlPath)) throw new Error(`${where}.sqlFile: ${path.join(path.basename(dir), 'sql', config.sqlFile)} does not exist`);
  // The query is wrapped as a subquery: a trailing semicolon would end it early.
  const sql = readFileSync(sqlPath, 'utf8').trim().replace(/;+\s*$/, '');
  if (!sql) throw new Error(`${where}.sqlFile: ${config.sqlFile} is empty`);
  return { ...config, sql };
}
