import type { z } from 'zod';

/** One readable line per problem: `<what>.field: message`, so a person knows what to fix and where. */
export function describeIssues(what: string, error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = [what, ...issue.path.map(String)].join('.');
      if (issue.code === 'unrecognized_keys') {
        return `${where}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      }
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}
