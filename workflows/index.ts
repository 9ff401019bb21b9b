export { incrementalSync, progressQuery } from './incremental-sync';
export { mailingCampaigns, mailingProgressQuery } from './mailing-campaigns';
