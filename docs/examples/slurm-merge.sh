#!/bin/bash
# Merges the shard reports of slurm-verify.sh into the report of one run;
# submitted with --dependency=afterany on the array, so it runs when
# every task has ended, successful or not: a missing shard makes the
# merge exit 2, saying which (docs/examples/README.md).  Its exit status
# is the verdict: 0 pass, 1 findings, 2 incomplete.
#SBATCH --job-name=atrest-verify-merge
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
#SBATCH --output=atrest-verify-merge-%j.out
set -u
: "${ATREST_REPORTS:?the reports directory}"
exec atrest verify merge --json "$ATREST_REPORTS/report.json" \
	--junit "$ATREST_REPORTS/report.xml" "$ATREST_REPORTS"/shard-*.json
