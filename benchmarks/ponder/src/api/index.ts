// Ponder requires an API file exporting a Hono app. The benchmark only uses Ponder's built-in
// /ready, /status and /metrics endpoints, so no GraphQL or SQL-over-HTTP is mounted here.
import { Hono } from "hono";

export default new Hono();
