/** ktask public API: everything a user imports comes from here, and nothing else is public. */
export { App, createApp, type ScheduleInfo } from './app/app.ts'
export type {
  BatchContext,
  BatchHandler,
  BatchItem,
  BatchItemResult,
  BatchResult,
  ConsumeDefinition,
  EnqueueManyItem,
  EnqueueOptions,
  EnqueueResult,
  EventContext,
  EventDefinition,
  EventType,
  FlowOptions,
  FlowResult,
  NotifyTarget,
  FollowUpOptions,
  HandlerContext,
  IdempotencyKeySource,
  IsolationMode,
  IsolationOptions,
  PublishOptions,
  PublishResult,
  ScheduleDefinition,
  Task,
  TaskContext,
  TaskDefinition,
  TimingOptions,
  TransactionClient,
} from './config/definitions.ts'
export type {
  AppOptions,
  BackoffOptions,
  DatabaseOptions,
  HttpServiceOptions,
  KafkaClientOptions,
  KafkaRetryOptions,
  KafkaSaslOptions,
  KafkaSaslPassword,
  LedgerOptions,
  OutboxOptions,
  WebhooksOptions,
  Ordering,
  ProducerOptions,
  QueueOptions,
  RetryOptions,
  SchemaRegistryOptions,
  WorkerOptions,
} from './config/options.ts'
export type { AvroSchemaInput } from './codec/avro-codec.ts'
export { chain, chord, group } from './flows/canvas.ts'
export type { ChainSignature, ChordSignature, GroupSignature, Signature, StepOptions, StepSignature } from './flows/canvas.ts'
export { KtaskError, UnrecoverableError, codes, isKtaskError } from './errors.ts'
export { verifyWebhook, type VerifyOptions } from './webhooks/signature.ts'
export type { KtaskErrorCode, KtaskErrorDetails } from './errors.ts'
export type { MessageEventBase, PauseReason, WorkerEvents } from './observability/worker-events.ts'
export type { EnqueueContext, EnqueueMessage, HandleContext, Middleware } from './middleware/middleware.ts'
export type { Worker, WorkerCounters, WorkerState } from './worker/worker.ts'
export type { TaskErrorSummary, TaskState, TaskStatus } from './store/task-store.ts'
export type { FlowFailure, FlowState, FlowStepRole, FlowStepState } from './store/flows.ts'
export type { FlowStatus, FlowStepStatus } from './store/flow-status.ts'
export type { WebhookPayload } from './app/notify.ts'
export { createHttpService, type HttpService } from './http/server.ts'
export { createOps, type Ops } from './operations/ops.ts'
export type { DlqEntry, DlqFilter, DlqMessage, RedriveOptions, RedriveResult } from './operations/dlq.ts'
export type { GroupInfo, TopicInfo } from './operations/inspect.ts'
export type { EndSpec, StartSpec } from './operations/offsets.ts'
export type { RepublishOptions, RepublishResult } from './operations/republish.ts'
export type { PartitionMove, ResetGroupOptions, ResetPlan } from './operations/reset-group.ts'
