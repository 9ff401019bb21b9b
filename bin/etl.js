#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so that `npx etl` needs no build step.
require('tsx/cjs');
require('../cli/main.ts');
