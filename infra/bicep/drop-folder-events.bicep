// After the code is published (README.md, "Run on Azure"): subscribe the drop folder's blob trigger to the data
// storage account's events. On Flex Consumption the blob trigger has only the Event Grid source, and the
// subscription's webhook carries the blobs_extension system key, which the Functions host makes when the code first
// starts: so this is its own deployment, after `func azure functionapp publish`, never part of main.bicep.
//
//   az deployment group create -g <rg> -f infra/bicep/drop-folder-events.bicep \
//     -p trainingAppName=<output trainingAppName> systemTopicName=<output storageEventsTopicName>
//
// The key is read here, in the deployment (listKeys on the app's host), so it never passes through a shell or a
// parameter file; it is stored only in the subscription's endpoint URL, which Event Grid keeps write-only.

@description('The training function app (main.bicep output trainingAppName).')
param trainingAppName string

@description('The Event Grid system topic on the data storage account (main.bicep output storageEventsTopicName).')
param systemTopicName string

@description('The drop-folder container (CVSTUDIO_DROP_CONTAINER).')
param dropContainerName string = 'cvstudio-drop'

@description('The blob-triggered function (function_app.py registers it as drop_folder).')
param functionName string = 'drop_folder'

resource trainingApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: trainingAppName
}

resource trainingAppHost 'Microsoft.Web/sites/host@2024-04-01' existing = {
  parent: trainingApp
  name: 'default'
}

resource storageEvents 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource dropFolder 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: storageEvents
  name: 'cvstudio-drop-folder'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${trainingApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${trainingAppHost.listKeys().systemKeys.blobs_extension}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${dropContainerName}/blobs/'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}
