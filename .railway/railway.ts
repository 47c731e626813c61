// Railway Infrastructure as Code for soulbridge: `railway config plan`, then
// `railway config apply` (Railway CLI 5.42.1 or newer; the DSL comes from the
// npm package `railway`, entry point `railway/iac`).
//
// A service is managed by railway.json (Config as Code) OR by this file, never
// both: Railway refuses to plan a service that railway.json still manages
// (`railway config migrate` moves it here). Railway stopped reading
// railway.json on 2026-12-01, so services are set up from this file; the
// JSON file stays as a description of the same settings. Neither file is
// needed to run the binary itself.
//
// Two deployments are described below, both ordinary code that the type
// checker always checks; `deployment` picks the one that is applied:
//
//   "single"    one instance with a volume at /data (the default, and what
//               railway.json describes): Badger on the volume keeps every
//               session, account and avatar across deploys.
//   "replicas"  REPLICAS instances, no volume (Railway does not run replicas
//               of a service with a volume), and a Redis service as the shared
//               tier: each instance keeps a local Badger copy on its ephemeral
//               disk and mirrors to Redis through REDIS_URL.
//
// The settings mirror railway.json (a test, deploy_test.go, checks that both
// name the same healthcheck path, volume mount and draining seconds).
//
// Type-checked in CI (.railway/check.sh, called from .ci/run) against a pinned
// version of the `railway` package's own type declarations: service(),
// volume(), redis(), preserve(), `replicas`, the `build` and `deploy` objects
// (BuildConfig, DeployConfig), `volumeMounts` keyed by mount path and
// references such as `cache.env.REDIS_URL`. It has not been applied to a live
// Railway project from here.
import {
  defineRailway,
  preserve,
  project,
  redis,
  service,
  volume,
  type BuildConfig,
  type DeployConfig,
  type ProjectDefinition,
} from "railway/iac";

type Deployment = "single" | "replicas";

// The deployment that `railway config apply` creates. Moving an existing
// "single" project to "replicas" leaves its volume's data behind: the new
// instances start from what Redis holds.
const deployment: Deployment = "single";

// Instances in the "replicas" deployment.
const REPLICAS = 2;

// Built from this repository's Dockerfile (connect the repository in the
// dashboard, or add `source: github("<owner>/soulbridge", { branch: "main" })`
// to the service, or deploy the directory with `railway up`).
const build: BuildConfig = { builder: "DOCKERFILE", dockerfilePath: "Dockerfile" };

// Healthcheck, restart and draining, the same in both deployments.
const deploy: DeployConfig = {
  healthcheckPath: "/healthz",
  // Long enough for a new deployment to wait for the old one's data dir
  // lock (DATA_LOCK_TIMEOUT, 60s) and still pass.
  healthcheckTimeout: 120,
  restartPolicyType: "ON_FAILURE",
  restartPolicyMaxRetries: 10,
  // SIGTERM, then this long before SIGKILL: more than SHUTDOWN_TIMEOUT
  // (10s), so in-flight requests finish and Badger closes cleanly.
  drainingSeconds: 20,
};

// One instance, Badger on a volume at /data.
function single(): ProjectDefinition {
  // The volume holds Badger (sessions, accounts, avatars) and, if SECRET_KEY
  // is ever unset, the persisted key file. Without it every deploy starts empty.
  const data = volume("soulbridge-data");

  const web = service("web", {
    build,
    deploy: {
      ...deploy,
      // Refuse to deploy without the volume at /data.
      requiredMountPath: "/data",
    },
    volumeMounts: {
      "/data": data,
    },
    env: {
      // The signing key. Never written here: set it once with
      //   railway variable set SECRET_KEY=$(soulbridge keygen)
      // (or in the dashboard); preserve() keeps the value Railway holds.
      SECRET_KEY: preserve(),
    },
  });

  return project("soulbridge", { resources: [web, data] });
}

// REPLICAS instances sharing sessions through Redis, no volume.
function replicas(): ProjectDefinition {
  // Railway's Redis database service. Its data must outlive its restarts
  // (a volume at the mount redis() declares, defaultMountPath, or AOF):
  // check after the first apply that the Redis service has its volume.
  // soulbridge notices a Redis that came back empty and refills it from the
  // instances' local copies, but an instance without a volume only holds
  // what it has seen since it started.
  // Railway's Redis is one instance: no replica, no failover. For an HA
  // Redis (a primary and replicas behind Sentinel, run elsewhere), replace
  // this service with REDIS_URL in go-redis' failover form, e.g.
  //   redis://:SENTINEL_PASSWORD@s1:26379/0?master_name=mymaster&addr=s2:26379&addr=s3:26379&password=PRIMARY_PASSWORD
  // set as a variable (railway variable set REDIS_URL=…), never written
  // here (README: "Redis with Sentinel").
  const cache = redis("Redis");

  const web = service("web", {
    build,
    // No requiredMountPath and no volumeMounts: each instance's Badger copy
    // lives on its ephemeral disk (DATA_DIR=/data from the image), and
    // /readyz reports "persistent":false.
    deploy,
    replicas: REPLICAS,
    env: {
      // Required here: with REDIS_URL set the binary refuses to start
      // without an explicit key (every instance must sign cookies with the
      // same one). Set it before the first deploy with
      //   railway variable set SECRET_KEY=$(soulbridge keygen)
      // preserve() keeps that value; it is never written in this file.
      SECRET_KEY: preserve(),
      // The Redis service's private URL (redis://…railway.internal), a
      // reference resolved by Railway, never a literal.
      REDIS_URL: cache.env.REDIS_URL,
    },
  });

  return project("soulbridge", { resources: [web, cache] });
}

const deployments: Record<Deployment, () => ProjectDefinition> = { single, replicas };

export default defineRailway(() => deployments[deployment]());
