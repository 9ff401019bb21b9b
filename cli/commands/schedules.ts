import type { EtlConfig } from '../../lib/config';
import { resolveSettings } from '../../lib/settings';
import { connectClient } from '../../lib/temporal';
import { applySchedules } from '../../schedules';
import { printJson, say } from '../output';

export async function applySchedulesCommand(config: EtlConfig): Promise<number> {
  const client = await connectClient(resolveSettings(config));
  try {
    const applied = await applySchedules(client, config);
    for (const schedule of applied) say(`${schedule.scheduleId}: ${schedule.change}`);
    printJson(applied);
    return 0;
  } finally {
    await client.connection.close();
  }
}
