// The frames layer: bytes ⇄ frames ⇄ methods. Pure: no I/O, nothing from server/ or store/.
export * from './constants.js';
export * from './errors.js';
export * from './primitives.js';
export * from './field-table.js';
export * from './methods.generated.js';
export * from './frame-parser.js';
export * from './frame-encoder.js';
export * from './assembler.js';
export * from './body.js';
export * from './body-pool.js';
export * from './method-frame.js';
