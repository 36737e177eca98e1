// RabbitMQ's log level names (rabbitmqctl 3.10.8's set_log_level takes these) and the pino level
// each one is.
export const LOG_LEVELS: Readonly<Record<string, string>> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
  none: 'silent',
};

/** rabbitmqctl 3.10.8's refusal of any other name. */
export const unsupportedLevel = (level: string): string => `level ${level} is not supported. Try one of ${Object.keys(LOG_LEVELS).join(', ')}`;
