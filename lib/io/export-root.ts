// Local folders named in an input live under the export root (ETL_EXPORT_DIR). The input schemas already refuse
// absolute paths and ".."; this also follows what is on disk, so a link inside the root pointing out is refused too.
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../workflow/errors';

const inside = (root: string, candidate: string) => candidate === root || candidate.startsWith(root + path.sep);

/**
 * `relative` resolved under `root`, created one level at a time, each level's real path checked to stay under the
 * root's real path before anything is created in it. `field` names the input field in the error.
 */
export function folderUnderRoot(root: string, relative: string, field: string): string {
  const refuse = (why: string) => ApplicationFailure.nonRetryable(
    `${field} "${relative}" leads outside the export root ${root} (ETL_EXPORT_DIR): ${why}`, ErrorType.InvalidInput);
  const target = path.resolve(root, relative);
  if (!inside(path.resolve(root), target)) throw refuse('give a folder relative to the root, without ".."');
  mkdirSync(root, { recursive: true });
  const realRoot = realpathSync(root);
  let current = realRoot;
  for (const segment of path.relative(path.resolve(root), target).split(path.sep).filter(Boolean)) {
    const next = path.join(current, segment);
    let exists = true;
    try {
      lstatSync(next);
    } catch {
      exists = false;
    }
    if (!exists) mkdirSync(next);
    const real = realpathSync(next);
    if (!inside(realRoot, real)) throw refuse(`${path.relative(realRoot, next)} is a link to ${real}`);
    current = real;
  }
  return target;
}
