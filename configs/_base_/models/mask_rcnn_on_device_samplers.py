# mmdet's RandomSampler drawing its permutation on the GPU instead of the CPU, for the RPN and the
# RoI head (the same uniform draw; vitdense/models/task_modules.py says why). The Mask R-CNN
# protocols merge it into their `model.train_cfg`, whose other sampler settings stay mmdet's.
on_device_samplers = dict(
    rpn=dict(sampler=dict(type='OnDeviceRandomSampler')),
    rcnn=dict(sampler=dict(type='OnDeviceRandomSampler')),
)
