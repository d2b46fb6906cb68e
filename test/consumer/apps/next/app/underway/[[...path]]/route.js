// Everything under /underway (API, dashboard, assets) answered by underway.
import { nextRouteHandlers } from 'underway/next';
import { getUnderway } from '../../../lib/underway.js';

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = nextRouteHandlers(getUnderway);
export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';
