// Imported first by main.ts, so it runs before any library loads: KafkaJS prints a warning about its new
// default partitioner at every start unless told not to (we use the default and say so in the README).
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] ??= '1';

export {};
