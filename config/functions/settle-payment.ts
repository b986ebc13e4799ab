// A function module: its default export receives the pool and registers functions by name (fname).
import * as t from 'io-ts';
import type { FlowContext, KisPool, Row } from 'kisflow';

// Rows that do not match this codec are rejected to the dead-letter sink before the function runs.
const JoinedPayment = t.type({ orderid: t.string, amount: t.number, pay_amount: t.number });

export default (pool: KisPool): void => {
  pool.faas('SettlePayment', (flow: FlowContext, rows: readonly Row[]) => {
    for (const row of rows) {
      const outstanding = Number(row['amount']) - Number(row['pay_amount']);
      flow.commitRow({
        orderid: row['orderid'],
        userid: row['userid'],
        item: row['item'],
        amount: row['amount'],
        paid: row['pay_amount'],
        channel: row['channel'],
        outstanding: Math.round(outstanding * 100) / 100,
        status: outstanding <= 0 ? 'settled' : 'partial',
      }, row);
    }
  }, { rowCodec: JoinedPayment });
};
