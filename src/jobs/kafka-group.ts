// The jobs group's assignment: partitions round-robin over the members, and the executors (member metadata:
// host, pid, started) handed to every member, since the sharding of a broadcast needs the same list everywhere.
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';
import { parseJson, type ExecutorInfo } from './records.js';

/** Pseudo-topic carrying the member list in every assignment (the mock has no DescribeGroups). */
export const MEMBERS_PREFIX = 'kisjobs-members:';

/**
 * Round robin over members sorted by id, every member listed (the mock holds a SyncGroup missing one).
 * Each assignment also names a pseudo-topic that carries the executors of this generation: kafkajs drops
 * it from the assignment and reports it in RECEIVED_UNSUBSCRIBED_TOPICS, where every member reads it.
 */
export function jobsAssigner(executor: ExecutorInfo, onMembers: (m: ExecutorInfo[]) => void): PartitionAssigner {
  return ({ cluster }) => ({
    name: 'KisJobs',
    version: 1,
    async assign({ members, topics }) {
      const ids = members.map((m) => m.memberId).sort();
      const executors = decodeMembers(members);
      onMembers(executors);
      const list = MEMBERS_PREFIX + Buffer.from(JSON.stringify(executors)).toString('base64url');
      const plan = new Map<string, Record<string, number[]>>(ids.map((id) => [id, { [list]: [] }]));
      let i = 0;
      for (const topic of topics) {
        for (const p of cluster.findTopicPartitionMetadata(topic).map((x) => x.partitionId).sort((a, b) => a - b)) {
          (plan.get(ids[i++ % ids.length]!)![topic] ??= []).push(p);
        }
      }
      return ids.map((memberId) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: plan.get(memberId)!, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name: 'KisJobs', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(JSON.stringify(executor)) }) };
    },
  });
}

/** Executors from group members' metadata (assigner or DescribeGroups), sorted by id: every replica computes the same shard order. */
export function decodeMembers(members: ReadonlyArray<{ memberMetadata: Buffer }>): ExecutorInfo[] {
  const out: ExecutorInfo[] = [];
  for (const m of members) {
    try {
      const meta = AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
      const info = parseJson<ExecutorInfo>(meta?.userData);
      if (info?.id) out.push(info);
    } catch {
      /* a member of another protocol */
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
