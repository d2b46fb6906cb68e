import type { Child } from 'hono/jsx';
import { ASSET_FILES, homePath, type PageFrame } from './page-context.ts';
import { PAGES_CSS_FILE } from './styles.ts';

export interface LayoutProps {
  frame: PageFrame;
  /** The tab title (the app's name is added). */
  title: string;
  /** Which page script behaviour to switch on: `list`, `job`, `wait`. */
  page: string;
  /**
   * Seconds after which a browser without JavaScript reloads the page: set only while the job is
   * unfinished, so a finished page stays still.
   */
  refresh?: number;
  /** Where the refresh goes, when not this page itself. */
  refreshTo?: string;
  children?: Child;
}

/** The frame around every page: header with the global indicator, the stylesheet and the one script. */
export function Layout({ frame, title, page, refresh, refreshTo, children }: LayoutProps) {
  const assets = `${frame.pagesPath}/assets`;
  const home = homePath(frame.pagesPath);
  return (
    <html lang="en" data-underway-api={frame.basePath} data-underway-pages={frame.pagesPath}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        {refresh !== undefined && (
          // In <noscript>: with JavaScript the page is live instead (removing a parsed refresh tag
          // would not cancel it).
          <noscript>
            <meta http-equiv="refresh" content={refreshTo ? `${refresh};url=${refreshTo}` : String(refresh)} />
          </noscript>
        )}
        <title>{`${title} · ${frame.title}`}</title>
        <link rel="stylesheet" href={`${assets}/${ASSET_FILES.css}`} />
        <link rel="stylesheet" href={`${assets}/${PAGES_CSS_FILE}`} />
        <script type="module" src={`${assets}/${ASSET_FILES.script}`} />
      </head>
      <body data-underway-page={page}>
        <header class="uw-top">
          <a class="uw-brand" href={home}>
            {frame.title}
          </a>
          {frame.admin && (
            <nav aria-label="Dashboard" class="uw-nav">
              <a href={home}>Jobs</a> <a href={`${frame.pagesPath}/overview`}>Overview</a>
            </nav>
          )}
          {frame.user !== null && <underway-indicator href={home} />}
          {frame.user !== null && <span class="uw-user">Signed in as {frame.user}</span>}
        </header>
        <main id="uw-main">{children}</main>
      </body>
    </html>
  );
}

/** A page with one message: not signed in, not found. */
export function MessagePage({ frame, title, text }: { frame: PageFrame; title: string; text: string }) {
  return (
    <Layout frame={frame} title={title} page="message">
      <h1>{title}</h1>
      <p>{text}</p>
      <p>
        <a href={homePath(frame.pagesPath)}>All jobs</a>
      </p>
    </Layout>
  );
}
