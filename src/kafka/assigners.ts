// kafkajs partition assigners. The co-partitioning one gives partition n of every subscribed topic to the
// same member, as Kafka Streams does for joined topics: a join's two sides of one key meet in one process.
import { AssignerProtocol, type Assigner, type PartitionAssigner } from 'kafkajs';

export const CO_PARTITION_ASSIGNER_NAME = 'KisCoPartition';

/** Partition n of every topic goes to member (n mod members), members sorted by id. */
export function assignCoPartitioned(memberIds: readonly string[], partitionsByTopic: ReadonlyMap<string, readonly number[]>): Map<string, Record<string, number[]>> {
  const sorted = [...memberIds].sort();
  const out = new Map<string, Record<string, number[]>>(sorted.map((m) => [m, {}]));
  if (sorted.length === 0) return out;
  for (const [topic, partitions] of partitionsByTopic) {
    for (const p of partitions) {
      const a = out.get(sorted[p % sorted.length]!)!;
      (a[topic] ??= []).push(p);
    }
  }
  return out;
}

export const coPartitionAssigner: PartitionAssigner = ({ cluster }): Assigner => ({
  name: CO_PARTITION_ASSIGNER_NAME,
  version: 0,
  async assign({ members, topics }) {
    const byTopic = new Map<string, number[]>();
    for (const topic of topics) byTopic.set(topic, cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId).sort((a, b) => a - b));
    const plan = assignCoPartitioned(members.map((m) => m.memberId), byTopic);
    return [...plan].map(([memberId, assignment]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return { name: CO_PARTITION_ASSIGNER_NAME, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
  },
});

/** For a group of one reader that must get exactly these partitions (changelog restore). */
export function fixedAssigner(topic: string, partitions: readonly number[]): PartitionAssigner {
  return (): Assigner => ({
    name: 'KisFixed',
    version: 0,
    async assign({ members }) {
      return members.map((m, i) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: i === 0 ? { [topic]: [...partitions] } : {}, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name: 'KisFixed', metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
    },
  });
}
