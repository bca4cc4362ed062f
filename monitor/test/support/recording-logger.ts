import type { LogFields, Logger } from '../../src/logger';

export interface Line {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  readonly msg: string;
  readonly fields: LogFields;
}

/** A Logger that keeps its lines for assertions. */
export class RecordingLogger implements Logger {
  readonly lines: Line[] = [];
  error(msg: string, fields: LogFields): void {
    this.lines.push({ level: 'error', msg, fields });
  }
  warn(msg: string, fields: LogFields): void {
    this.lines.push({ level: 'warn', msg, fields });
  }
  info(msg: string, fields: LogFields): void {
    this.lines.push({ level: 'info', msg, fields });
  }
  debug(msg: string, fields: LogFields): void {
    this.lines.push({ level: 'debug', msg, fields });
  }
  messages(): string[] {
    return this.lines.map((line) => `${line.level} ${line.msg}`);
  }
}
