import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A message as the SMTP server accepted it: the envelope's recipients and the parsed message. */
export interface Received {
  rcptTo: string[];
  mail: ParsedMail;
}

/**
 * A real SMTP server on 127.0.0.1 (the `smtp-server` package), keeping what it accepts in memory,
 * parsed by `mailparser`. `refuse` scripts the answers to the next messages' DATA: each code is
 * answered once, in order (451: try later; 550: refused), then messages are accepted.
 */
export class SmtpInbox {
  readonly received: Received[] = [];
  /** Every DATA the server answered, its code included: 250 for one it accepted. */
  readonly answers: number[] = [];
  readonly #refuse: number[];
  readonly #waiters = new Set<() => void>();
  readonly #server: SMTPServer;
  #port = 0;

  constructor(refuse: readonly number[] = []) {
    this.#refuse = [...refuse];
    this.#server = new SMTPServer({
      authOptional: true,
      // No certificate here: a client must not try to upgrade.
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, session, callback) => {
        simpleParser(stream).then(
          (mail) => {
            const code = this.#refuse.shift();
            if (code !== undefined) {
              this.#answer(code);
              callback(Object.assign(new Error(code < 500 ? 'Try again later' : 'Refused'), { responseCode: code }));
              return;
            }
            this.received.push({ rcptTo: session.envelope.rcptTo.map((r) => r.address), mail });
            this.#answer(250);
            callback(null, 'Queued');
          },
          (error: unknown) => callback(error as Error),
        );
      },
    });
  }

  /** Listens on a free port of 127.0.0.1. */
  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    this.#port = (this.#server as unknown as { server: { address(): AddressInfo } }).server.address().port;
    return this;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.#port}`;
  }

  /** Resolves once `check` passes, looked at again after each DATA answered; rejects after `timeoutMs`. */
  until<T>(check: (inbox: SmtpInbox) => T | false | undefined, timeoutMs = 10_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const look = () => {
        const value = check(this);
        if (value === false || value === undefined) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`the inbox did not get there in ${timeoutMs} ms; answers: ${this.answers.join(', ')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(look);
      };
      this.#waiters.add(look);
      look();
    });
  }

  /** The messages to one address. */
  to(address: string): ParsedMail[] {
    return this.received.filter((r) => r.rcptTo.includes(address)).map((r) => r.mail);
  }

  #answer(code: number): void {
    this.answers.push(code);
    for (const look of [...this.#waiters]) look();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
