import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces go into the failure's encoded attributes, which the payload codec encrypts:
 * an error can quote a row ("Key (email)=(...) already exists"). The history then shows "Encoded failure" to
 * whoever lacks the key; our client, workers and the codec server show the message. Loaded by path
 * (DataConverter.failureConverterPath) because workflows use it inside their sandbox too.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
