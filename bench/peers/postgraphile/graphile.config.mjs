// PostGraphile v5 as bench/peers.py runs it: the amber preset with simplified
// inflection and aggregates, over the benchmark's database, read-only in spirit
// (the benchmark only reads). Settings come from the environment so the script
// can point it at the fresh database and a free port.
import { PgAggregatesPreset } from "@graphile/pg-aggregates";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const connectionString = process.env.PEER_DATABASE_URL;
if (!connectionString) {
  throw new Error("PEER_DATABASE_URL is not set (postgres://user@host:port/database)");
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset, PgAggregatesPreset],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public"],
      // The benchmark's client sends at most 8 requests at once; match the
      // project's pool so neither side waits on connections the other has.
      poolConfig: { max: Number(process.env.PEER_POOL_SIZE ?? 10) },
    }),
  ],
  gather: {
    // No watch mode: nothing to install into the benchmark's database.
    installWatchFixtures: false,
  },
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PEER_PORT ?? 5678),
    graphiql: false,
    watch: false,
  },
  grafast: {
    explain: false,
  },
};

export default preset;
