#!/bin/bash
# Sharded `atrest verify` as a Slurm job array (docs/VERIFY.md, "Scale
# and sharding"): array task K of 1..N verifies shard K/N and writes
# $ATREST_REPORTS/shard-K.json; slurm-merge.sh, submitted with a
# dependency on the array, merges them.  Submit (docs/examples/README.md):
#
#   jid=$(sbatch --parsable docs/examples/slurm-verify.sh)
#   sbatch --dependency=afterany:"$jid" docs/examples/slurm-merge.sh
#
# with ATREST_KEY, ATREST_STORE, ATREST_MANIFEST, ATREST_FK (the
# fingerprint key file, mode 0600, the same for every shard) and
# ATREST_REPORTS (a directory every node can write) in the environment;
# sbatch passes it on.  N is the array's size: change --array only.
#SBATCH --job-name=atrest-verify
#SBATCH --array=1-16
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --output=atrest-verify-%A_%a.out
set -u
: "${ATREST_KEY:?the key URI (docs/KEYS.md)}"
: "${ATREST_STORE:?the store to verify}"
: "${ATREST_MANIFEST:?the manifest}"
: "${ATREST_FK:?the fingerprint key file}"
: "${ATREST_REPORTS:?the reports directory}"
if [ "${SLURM_ARRAY_TASK_MIN:-}" != 1 ]; then
	echo "slurm-verify.sh: submit as an array 1-N (--array=1-16)" >&2
	exit 2
fi
k=$SLURM_ARRAY_TASK_ID
n=$SLURM_ARRAY_TASK_MAX
rc=0
atrest verify -q -k "$ATREST_KEY" -m "$ATREST_MANIFEST" \
	--fingerprint-key "$ATREST_FK" --jobs "${SLURM_CPUS_PER_TASK:-1}" \
	--shard "$k/$n" --json "$ATREST_REPORTS/shard-$k.json" \
	"$ATREST_STORE" || rc=$?
# 1 (findings) is a result the merge judges; 2 is a failed task
[ "$rc" -le 1 ] || exit "$rc"
exit 0
