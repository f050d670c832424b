#!/usr/bin/env bash
# Rolls a release of the suite out to the cluster kubectl points at:
#   deploy/kubernetes/rollout.sh small|large
# 1. everything but the suite's own Deployments (namespace, Secrets, config,
#    PostgreSQL, the collector, network policies), so the database is there;
# 2. the migrations Job of this release, awaited (the previous release's Job is
#    deleted first: a Job's template cannot be changed in place);
# 3. the whole overlay: the Deployments roll one pod at a time onto a schema
#    that is already migrated (migrations only expand; see the README).
set -euo pipefail
size="${1:?usage: rollout.sh small|large}"
here="$(cd "$(dirname "$0")" && pwd)"
build() { kubectl kustomize --load-restrictor LoadRestrictionsNone "$1"; }

build "$here/overlays/$size" |
  kubectl apply -l 'app.kubernetes.io/component notin (gateway,profiles,asb)' -f -
if [ "$size" = small ]; then
  kubectl -n involve rollout status statefulset/postgres --timeout=10m
else
  kubectl -n involve wait --for=condition=Ready cluster.postgresql.cnpg.io/involve-db --timeout=15m
fi

kubectl -n involve delete job involve-migrate --ignore-not-found --wait=true
build "$here/overlays/$size/migrate" | kubectl apply -f -
kubectl -n involve wait --for=condition=complete job/involve-migrate --timeout=30m

build "$here/overlays/$size" | kubectl apply -f -
for deployment in profiles asb gateway; do
  kubectl -n involve rollout status "deployment/$deployment" --timeout=15m
done
