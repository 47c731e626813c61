// Railway Infrastructure as Code for soulbridge: `railway config plan`, then
// `railway config apply` (Railway CLI 5.42.1 or newer; the DSL comes from the
// npm package `railway`, entry point `railway/iac`).
//
// A service is managed by railway.json (Config as Code) OR by this file, never
// both: Railway refuses to plan a service that railway.json still manages.
// Railway stops reading railway.json on 2026-12-01 and new services cannot use
// it, so new services should be set up from this file. Neither file is needed
// to run the binary itself.
//
// The settings below mirror railway.json (a test, deploy_test.go, checks that
// both name the same healthcheck path, volume mount and draining seconds).
//
// Checked against the `railway` package's own type declarations (v3.11):
// service(), volume(), redis(), preserve(), the `build` and `deploy` objects
// (BuildConfig, DeployConfig) and `volumeMounts` keyed by mount path. It has
// not been applied to a live Railway project from here.
import { defineRailway, preserve, project, redis, service, volume } from "railway/iac";

// Set to true to add a Redis service and wire REDIS_URL to it. (This build of
// soulbridge logs that the Redis mirror is not there yet and keeps sessions in
// Badger on the volume; with REDIS_URL set, SECRET_KEY becomes mandatory.)
const withRedis = false;

export default defineRailway(() => {
  // The volume holds Badger (sessions, accounts, avatars) and, if SECRET_KEY
  // is ever unset, the persisted key file. Without it every deploy starts empty.
  const data = volume("soulbridge-data");

  const cache = withRedis ? redis("Redis") : undefined;

  const web = service("web", {
    // Built from this repository's Dockerfile (connect the repository in the
    // dashboard, or add `source: github("<owner>/soulbridge", { branch: "main" })`,
    // or deploy the directory with `railway up`).
    build: { builder: "DOCKERFILE", dockerfilePath: "Dockerfile" },
    deploy: {
      healthcheckPath: "/healthz",
      // Long enough for a new deployment to wait for the old one's data dir
      // lock (DATA_LOCK_TIMEOUT, 60s) and still pass.
      healthcheckTimeout: 120,
      restartPolicyType: "ON_FAILURE",
      restartPolicyMaxRetries: 10,
      // SIGTERM, then this long before SIGKILL: more than SHUTDOWN_TIMEOUT
      // (10s), so in-flight requests finish and Badger closes cleanly.
      drainingSeconds: 20,
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
      ...(cache ? { REDIS_URL: cache.env.REDIS_URL } : {}),
    },
  });

  return project("soulbridge", {
    resources: cache ? [web, data, cache] : [web, data],
  });
});
