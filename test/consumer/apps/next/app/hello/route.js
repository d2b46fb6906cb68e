export function GET() {
  return new Response('hello from next at /hello');
}
