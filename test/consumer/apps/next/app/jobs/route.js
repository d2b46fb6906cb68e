// The host's own /jobs: underway lives under /underway and leaves it alone.
export function GET() {
  return new Response('hello from next at /jobs');
}
